"""Campaigns: segments, templates, deliveries and journeys (no models yet; see the campaigns issue)."""
