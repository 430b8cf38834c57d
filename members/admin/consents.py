"""Consent texts and the consent events recorded for members."""

from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext

from loyalty_site.files.admin_exports import SafeExportAdminMixin

from ..exports import (
    ConsentEventResource,
    ConsentTextResource,
)
from ..forms import (
    ConsentEventAdminForm,
)
from ..models import (
    ConsentEvent,
    ConsentText,
)
from ..services import consent_record


@admin.register(ConsentText)
class ConsentTextAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    """Versioned consent wording. A version members have agreed to is frozen: add a new version instead."""

    resource_classes = [ConsentTextResource]
    list_display = ["channel", "purpose", "version", "valid_from", "created_at"]
    list_filter = ["channel", "purpose"]
    search_fields = ["version", "text"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and ConsentEvent.objects.filter(text=obj).exists():
            return ["channel", "purpose", "version", "text", "valid_from"]
        return []


@admin.register(ConsentEvent)
class ConsentEventAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    """The consent history, append-only. Staff add an event (e.g. from a paper form); nobody edits one."""

    resource_classes = [ConsentEventResource]
    export_personal_data = True
    form = ConsentEventAdminForm
    # Who recorded it (`actor`) is on the event's page.
    list_display = ["created_at", "member", "channel", "purpose", "granted", "source", "text"]
    list_filter = ["channel", "purpose", "granted", "source", ("created_at", DateFieldListFilter)]
    list_select_related = ["member", "text", "actor"]
    search_fields = ["=member__member_number"]
    raw_id_fields = ["member"]
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["member", "channel", "purpose", "granted", "text"]
        return ["member", "channel", "purpose", "granted", "text", "source", "actor", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        event = consent_record(
            member=form.cleaned_data["member"],
            channel=form.cleaned_data["channel"],
            purpose=form.cleaned_data["purpose"],
            granted=form.cleaned_data["granted"],
            text=form.cleaned_data["text"],
            source=ConsentEvent.Source.ADMIN,
            actor=request.user,
        )
        if event is not None:
            obj.pk = event.pk
            obj.text = event.text
            obj._state.adding = False

    def log_addition(self, request, obj, message):
        if obj.pk is not None:
            return super().log_addition(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:
            messages.info(request, gettext("Nothing was recorded: the member's consent is already in that state."))
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:members_consentevent_changelist"))
        return super().response_add(request, obj, post_url_continue)
