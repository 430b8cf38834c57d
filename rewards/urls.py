"""The rewards app's portal pages: the history of points, the reward catalog and the member's vouchers. The site
includes them in the `portal` namespace."""

from django.urls import path

# Importing portal and portal_catalog registers the links and the home page's cards (loyalty_site.portal): the
# site's URLconf imports this module before any page is drawn.
from . import portal, portal_catalog, portal_views, views  # noqa: F401

urlpatterns = [
    path("historia/", views.history, name="history"),
    path("historia/zakup/<int:pk>/", views.purchase_detail, name="history_purchase"),
    path("nagrody/", portal_views.catalog, name="catalog"),
    path("nagrody/<slug:code>/", portal_views.reward_detail, name="reward"),
    path("nagrody/<slug:code>/wymien/", portal_views.reward_redeem_view, name="reward_redeem"),
    path("kupony/", portal_views.vouchers, name="vouchers"),
    path("kupony/<int:pk>/", portal_views.voucher_detail, name="voucher"),
]
