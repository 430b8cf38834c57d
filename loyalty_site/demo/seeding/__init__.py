"""The steps of `manage.py demo_seed` (loyalty_site/demo/management/commands/demo_seed.py), by concept: the
programme, the people, their points activity, and the finish (logins, summary). The command composes them."""
