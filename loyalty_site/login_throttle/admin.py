"""Staff login security on the user admin: "Unlock login" (failed attempts cleared) and "Reset second factor"
(the user sets up a new authenticator app at the next sign-in; loyalty_site.staff_otp).

django-otp's own device admins are replaced by that action: they show raw keys and English labels, and the only
thing staff need to do with a device is to drop it when a phone is lost."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from loyalty_site.staff_otp.services import second_factor_reset

from .services import login_unlock

UNLOCK_PERMISSION = "axes.delete_accessattempt"

User = get_user_model()
# Django's user admin, with the action added; axes's own admin (Access attempts) stays as it is.
admin.site.unregister(User)
for device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)


@admin.register(User)
class LoginUnlockUserAdmin(UserAdmin):
    actions = [*(UserAdmin.actions or []), "unlock_login", "reset_second_factor"]

    def has_unlock_permission(self, request) -> bool:
        return request.user.has_perm(UNLOCK_PERMISSION)

    @admin.action(permissions=["unlock"], description=_("Unlock login"))
    def unlock_login(self, request, queryset):
        for user in queryset:
            login_unlock(username=user.get_username(), actor=request.user)
            self.log_change(request, user, gettext("Unlocked login (failed attempts cleared)."))
        count = len(queryset)
        self.message_user(
            request,
            ngettext(
                "Unlocked %(count)d login: it can be used again at once.",
                "Unlocked %(count)d logins: they can be used again at once.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    def has_reset_second_factor_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(permissions=["reset_second_factor"], description=_("Reset second factor"))
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            second_factor_reset(user=user)
            self.log_change(request, user, gettext("Second factor reset: a new app is set up at the next sign-in."))
        count = len(queryset)
        self.message_user(
            request,
            ngettext(
                "Reset the second factor of %(count)d user: they set up a new app at the next sign-in.",
                "Reset the second factor of %(count)d users: they set up a new app at the next sign-in.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
