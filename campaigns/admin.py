"""Campaigns admin: registered with the campaign models."""
