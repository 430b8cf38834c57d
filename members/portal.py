"""What members adds to the portal's navigation (`loyalty_site.portal`): the home page, first."""

from django.utils.translation import gettext_lazy as _

from loyalty_site import portal

portal.nav_entry("home", _("Start"), "portal:home", order=10)
