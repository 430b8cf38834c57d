"""The rewards app's portal pages: the history of points. The site includes them in the `portal` namespace."""

from django.urls import path

# Importing portal registers the history link and the points cards (loyalty_site.portal): the site's URLconf imports
# this module before any page is drawn.
from . import portal, views  # noqa: F401

urlpatterns = [
    path("historia/", views.history, name="history"),
    path("historia/zakup/<int:pk>/", views.purchase_detail, name="history_purchase"),
]
