"""The demo data (`manage.py demo_seed`): an app above every app it fills, writing through their services.

It knows every domain app (members, rewards, and whatever the demo fills next) and no app imports it, so it
sits where `analytics` sits in the dependency order: last in INSTALLED_APPS, with no models of its own.
"""
