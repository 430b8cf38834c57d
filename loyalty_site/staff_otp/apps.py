from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class StaffAdminConfig(AdminConfig):
    """Django's admin with our site class as the default `admin.site`."""

    default_site = "loyalty_site.staff_otp.site.StaffAdminSite"
    verbose_name = _("Administration")
