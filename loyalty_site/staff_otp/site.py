from django.conf import settings
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _


def otp_required() -> bool:
    return bool(getattr(settings, "STAFF_OTP_REQUIRED", False))


class StaffAdminSite(admin.AdminSite):
    site_header = _("Loyalty programme — staff panel")
    site_title = _("Loyalty programme")
    index_title = _("Administration")

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        return not otp_required() or request.user.is_verified()

    def login(self, request, extra_context=None):
        # Signed in with a password but not with a second factor: the code, not the password form again.
        user = request.user
        if otp_required() and user.is_active and user.is_staff and not user.is_verified():
            return HttpResponseRedirect(reverse(f"{self.name}:otp_verify"))
        return super().login(request, extra_context)

    def get_urls(self):
        from . import views

        return [
            path("2fa/", views.verify, {"site": self}, name="otp_verify"),
            path("2fa/setup/", views.setup, {"site": self}, name="otp_setup"),
            path("2fa/recovery-codes/", self.admin_view(views.recovery_codes), {"site": self}, name="otp_recovery"),
            *super().get_urls(),
        ]
