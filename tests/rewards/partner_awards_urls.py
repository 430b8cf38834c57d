"""A URLconf for the tests of the partner awards page before the integrator adds `PartnerAwardsAdminMixin` to
PartnerAdmin's bases (rewards/admin.py): the site's URLs, with the partners' admin given the mixin. Once the
mixin is in PartnerAdmin, this is the site's URLconf unchanged."""

from django.contrib import admin
from django.urls import path

from loyalty_site.urls import urlpatterns as site_urlpatterns
from rewards.admin_partner_awards import PartnerAwardsAdminMixin
from rewards.models import Partner

MERGED = isinstance(admin.site._registry[Partner], PartnerAwardsAdminMixin)

if MERGED:
    partner_admin = admin.site._registry[Partner]
    urlpatterns = site_urlpatterns
else:
    PartnerAdminWithAwards = type(
        "PartnerAdmin", (PartnerAwardsAdminMixin, type(admin.site._registry[Partner])), {"__module__": __name__}
    )
    partner_admin = PartnerAdminWithAwards(Partner, admin.site)
    original = admin.site._registry[Partner]
    admin.site._registry[Partner] = partner_admin
    try:
        admin_urls = admin.site.urls
    finally:
        admin.site._registry[Partner] = original
    urlpatterns = [path("admin/", admin_urls), *site_urlpatterns[1:]]
