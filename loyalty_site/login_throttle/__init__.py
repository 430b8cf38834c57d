"""Login throttling for the portal and admin logins: django-axes counting failures per account and per address.

What axes leaves to the project lives here: the backend that refuses a locked-out login before any password is
checked, the handler that gives the per-address count a limit of its own, the client address behind the
reverse proxy, the lockout page in the look of the login page it replaces, the staff unlock and its permissions.
Settings: the "Login throttling" section of loyalty_site/settings.py; docs/configuration.md explains them.
"""
