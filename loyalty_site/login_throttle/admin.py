"""Staff unlock: an "Unlock login" action on users, for staff who may clear failed login attempts."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .services import login_unlock

UNLOCK_PERMISSION = "axes.delete_accessattempt"

User = get_user_model()
# Django's user admin, with the action added; axes's own admin (Access attempts) stays as it is.
admin.site.unregister(User)


@admin.register(User)
class LoginUnlockUserAdmin(UserAdmin):
    actions = [*(UserAdmin.actions or []), "unlock_login"]

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
