"""The members app's portal pages: home, log in, log out. The site includes them in the `portal` namespace."""

from django.urls import path

# Importing portal registers the home page's navigation entry (loyalty_site.portal): the site's URLconf imports
# this module before any page is drawn.
from . import portal, views  # noqa: F401

urlpatterns = [
    path("", views.home, name="home"),
    path("logowanie/", views.login, name="login"),
    path("wyloguj/", views.logout, name="logout"),
]
