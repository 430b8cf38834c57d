"""The portal's account pages: join, claim a membership, confirm an email, reset a password, the profile, the
privacy centre (consents, data export, erasure) and the language switcher."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from members import data_export
from members.erasure import member_erase
from members.models import Channel, ConsentEvent, ConsentPurpose, DataExport, Member
from members.selectors import consent_state, portal_member
from members.services import MemberError, consent_record, member_update

from . import messages as outbox
from .forms import (
    ClaimCodeForm,
    ClaimStartForm,
    ErasureConfirmForm,
    NewPasswordForm,
    PasswordResetForm,
    ProfileForm,
    SignUpForm,
    consent_choices,
)
from .language import with_language
from .services import (
    AccountError,
    claim_code_check,
    claim_complete,
    claim_start,
    email_verification_issue,
    email_verify,
    member_sign_up,
)
from .throttle import claim_failed, claim_locked

BACKEND = "members.accounts.backends.MemberLoginBackend"
CLAIM_SESSION_KEY = "portal_claim"
CONSENT_HISTORY_PAGE = 20


def _wants_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def member_page(view):
    """login_required, then the member (or the no-membership page) passed to the view."""

    @login_required
    def wrapped(request, *args, **kwargs):
        member = portal_member(request.user)
        if member is None:
            from members.views import no_membership  # members.views imports this module's neighbours

            return no_membership(request)
        return view(request, member, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _absolute(request: HttpRequest, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(name, args=args))


def _send_verification(request: HttpRequest, member: Member) -> None:
    issued = email_verification_issue(member=member)
    outbox.email_verification_send(
        to=member.email,
        link=_absolute(request, "portal:verify_email", issued.token.pk, issued.secret),
        first_name=member.first_name,
        language=member.preferred_language,
    )


# --- joining ------------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and portal_member(request.user) is not None:
        return redirect("portal:home")
    initial = {"referral_code": request.GET.get("ref", "")[:12]}
    form = SignUpForm(request.POST or None, initial=initial)
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = member_sign_up(
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                phone=data["phone"],
                password=data["password"],
                referral_code=data["referral_code"],
                consents=form.chosen_consents(),
                preferred_language=get_language(),
            )
        except AccountError as exc:
            error = exc
        else:
            _send_verification(request, member)
            auth_login(request, member.user, backend=BACKEND)
            messages.success(request, _("Welcome! We sent you a link to confirm your email."))
            return redirect("portal:home")
    return render(request, "members/portal/signup.html", {"form": form, "error": error})


@require_http_methods(["GET", "POST"])
def claim(request: HttpRequest) -> HttpResponse:
    """Step one of claiming a membership enrolled in a shop: card or member number and the contact on file."""
    form = ClaimStartForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST" and form.is_valid():
        number = form.cleaned_data["number"]
        if claim_locked(request, number):
            error = _("Too many attempts for this card. Wait a while and try again, or ask in a shop.")
            status = 429
        else:
            try:
                started = claim_start(number=number, contact=form.cleaned_data["contact"])
            except AccountError as exc:
                if exc.code == "mismatch":
                    claim_failed(request, number)
                error = str(exc)
            else:
                outbox.claim_code_send(
                    channel=started.channel,
                    to=started.destination,
                    code=started.issued.code,
                    link=_absolute(request, "portal:claim_link", started.issued.token.pk, started.issued.secret),
                    minutes=settings.PORTAL_CLAIM_CODE_MINUTES,
                    language=get_language(),
                )
                request.session[CLAIM_SESSION_KEY] = {
                    "token": started.issued.token.pk,
                    "number": number,
                    "channel": started.channel,
                }
                return redirect("portal:claim_code")
    return render(request, "members/portal/claim.html", {"form": form, "error": error}, status=status)


@require_http_methods(["GET", "POST"])
def claim_code(request: HttpRequest) -> HttpResponse:
    """Step two: the code sent to the contact on file, and the new password."""
    pending = request.session.get(CLAIM_SESSION_KEY)
    if not pending:
        return redirect("portal:claim")
    form = ClaimCodeForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST" and form.is_valid():
        number = pending["number"]
        try:
            if claim_locked(request, number):
                error = _("Too many attempts for this card. Wait a while and try again, or ask in a shop.")
                status = 429
            elif not claim_code_check(token_id=pending["token"], code=form.cleaned_data["code"]):
                claim_failed(request, number)
                error = _("The code is not correct. Check the message we sent and try again.")
            else:
                member = claim_complete(
                    token_id=pending["token"], code=form.cleaned_data["code"], password=form.cleaned_data["password"]
                )
                return _claimed(request, member)
        except AccountError as exc:
            error = str(exc)
    context = {"form": form, "error": error, "channel": pending.get("channel")}
    return render(request, "members/portal/claim_code.html", context, status=status)


@require_http_methods(["GET", "POST"])
def claim_link(request: HttpRequest, token_id: int, secret: str) -> HttpResponse:
    """The link in the claim email: choose a password (the link stands for the code)."""
    form = NewPasswordForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            member = claim_complete(token_id=token_id, secret=secret, password=form.cleaned_data["password"])
        except AccountError as exc:
            error = str(exc)
        else:
            return _claimed(request, member)
    return render(request, "members/portal/claim_link.html", {"form": form, "error": error})


def _claimed(request: HttpRequest, member: Member) -> HttpResponse:
    request.session.pop(CLAIM_SESSION_KEY, None)
    auth_login(request, member.user, backend=BACKEND)
    messages.success(request, _("Your membership is now online. From now on log in with your email, phone or card."))
    return with_language(redirect("portal:home"), member.preferred_language)


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token_id: int, secret: str) -> HttpResponse:
    """The confirmation link: a page with a button (a link alone changes nothing: mail scanners open links)."""
    if request.method == "POST":
        try:
            email_verify(token_id=token_id, secret=secret)
        except AccountError as exc:
            return render(request, "members/portal/verify_email.html", {"error": str(exc)}, status=400)
        messages.success(request, _("Thank you, your email is confirmed."))
        return redirect("portal:home" if request.user.is_authenticated else "portal:login")
    return render(request, "members/portal/verify_email.html", {})


@require_POST
@login_required
def verify_email_resend(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None or not member.email:
        raise Http404
    _send_verification(request, member)
    messages.success(request, _("We sent a new confirmation link to %(email)s.") % {"email": member.email})
    return redirect("portal:profile")


# --- password reset (Django's views, our form and templates) -------------------------------------------------------

password_reset = require_http_methods(["GET", "POST"])(
    auth_views.PasswordResetView.as_view(
        form_class=PasswordResetForm,
        template_name="registration/password_reset_form.html",
        email_template_name="registration/password_reset_email.txt",
        subject_template_name="registration/password_reset_subject.txt",
        success_url=reverse_lazy("portal:password_reset_done"),
    )
)
password_reset_done = require_GET(
    auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html")
)
password_reset_confirm = require_http_methods(["GET", "POST"])(
    auth_views.PasswordResetConfirmView.as_view(
        template_name="registration/password_reset_confirm.html",
        success_url=reverse_lazy("portal:password_reset_complete"),
    )
)
password_reset_complete = require_GET(
    auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html")
)


# --- language ------------------------------------------------------------------------------------------------------


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (the cookie); a logged-in member's choice is also saved as their preferred language,
    through the audited profile service, so it follows them to their next login and their messages."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    member = portal_member(request.user) if request.user.is_authenticated else None
    if member is not None and language in dict(settings.LANGUAGES) and member.preferred_language != language:
        member_update(member=member, actor=request.user, changes={"preferred_language": language}, note="portal")
    if request.htmx:
        target = response.get("Location") or reverse("portal:home")
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        with_language(response, language)
    return response


# --- profile -------------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@member_page
def profile(request: HttpRequest, member: Member) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=Member.objects.get(pk=member.pk))
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            recorded = member_update(member=member, actor=request.user, changes=changes, note="portal")
        except MemberError as exc:
            form.add_error(None, str(exc))
        else:
            if any(change.field == "email" for change in recorded):
                Member.objects.filter(pk=member.pk).update(email_verified_at=None)
                member.refresh_from_db()
                _send_verification(request, member)
                messages.info(request, _("We sent a link to your new email address to confirm it."))
            messages.success(request, _("Your details are saved."))
            response = redirect("portal:profile")
            if "preferred_language" in changes:
                with_language(response, changes["preferred_language"])
            return response
    return render(request, "members/portal/profile.html", {"form": form, "member": member})


# --- privacy centre ------------------------------------------------------------------------------------------------


def _consent_rows(member: Member) -> list[dict]:
    state = consent_state(member=member)
    rows = []
    for _name, channel, purpose, text in consent_choices():
        current = state.get((channel, purpose))
        rows.append(
            {
                "channel": channel,
                "purpose": purpose,
                "channel_label": Channel(channel).label,
                "purpose_label": ConsentPurpose(purpose).label,
                "granted": bool(current and current.granted),
                "since": current.created_at if current else None,
                "text": text,
            }
        )
    return rows


def _consent_history(member: Member):
    return ConsentEvent.objects.filter(member=member).select_related("text").order_by("-created_at", "-id")


@require_GET
@member_page
def privacy(request: HttpRequest, member: Member) -> HttpResponse:
    context = {
        "member": member,
        "consents": _consent_rows(member),
        "history": list(_consent_history(member)[:CONSENT_HISTORY_PAGE]),
        "exports": list(DataExport.objects.filter(member=member)[:5]),
    }
    return render(request, "members/portal/privacy.html", context)


@require_POST
@member_page
def consent_toggle(request: HttpRequest, member: Member, channel: str, purpose: str) -> HttpResponse:
    """Give or withdraw one consent; an htmx request gets the toggle back, saved, and the history refreshed."""
    if channel not in Channel.values or purpose not in ConsentPurpose.values:
        raise Http404
    granted = request.POST.get("granted") in ("1", "true", "on")
    consent_record(
        member=member,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=ConsentEvent.Source.PORTAL,
        actor=request.user,
    )
    if not _wants_fragment(request):
        messages.success(request, _("Your choice is saved."))
        return redirect("portal:privacy")
    row = next(r for r in _consent_rows(member) if (r["channel"], r["purpose"]) == (channel, purpose))
    context = {
        "row": row,
        "saved": True,
        "history": list(_consent_history(member)[:CONSENT_HISTORY_PAGE]),
        "oob_history": True,
    }
    response = render(request, "members/partials/_consent_toggle.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@member_page
def consent_history(request: HttpRequest, member: Member) -> HttpResponse:
    context = {"member": member, "history": list(_consent_history(member)[:200])}
    template = (
        "members/partials/_consent_history.html" if _wants_fragment(request) else "members/portal/consent_history.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@member_page
def data_export_start(request: HttpRequest, member: Member) -> HttpResponse:
    """Download the member's data now, or (when large) prepare it in the background and show its progress."""
    export_format = request.POST.get("format", DataExport.Format.JSON)
    if export_format not in DataExport.Format.values:
        export_format = DataExport.Format.JSON
    if data_export.export_size(member) < settings.PORTAL_EXPORT_BACKGROUND_ROWS:
        content, content_type, name = data_export.render(member, export_format)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    export = data_export.data_export_request(member=member, export_format=export_format)
    if _wants_fragment(request):
        return render(request, "members/partials/_data_export.html", {"export": export})
    messages.info(request, _("Your data is being prepared. Download it from this page when it is ready."))
    return redirect("portal:privacy")


@member_page
def data_export_status(request: HttpRequest, member: Member, pk: int) -> HttpResponse:
    # Someone else's export is 404 whatever the method: the lookup comes before the method check.
    export = get_object_or_404(DataExport, pk=pk, member=member)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if _wants_fragment(request):
        return render(request, "members/partials/_data_export.html", {"export": export})
    return redirect("portal:privacy")


@member_page
def data_export_download(request: HttpRequest, member: Member, pk: int) -> HttpResponse:
    export = get_object_or_404(DataExport, pk=pk, member=member, status=DataExport.Status.DONE)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not export.file:
        raise Http404
    return FileResponse(export.file.open("rb"), as_attachment=True, filename=export.file.name.rsplit("/", 1)[-1])


@require_http_methods(["GET", "POST"])
@member_page
def account_delete(request: HttpRequest, member: Member) -> HttpResponse:
    """Erase my data: confirmed with the password and a tick; logs out and says what was kept."""
    form = ErasureConfirmForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            member_erase(member=member, actor=request.user, note="portal: member's request")
        except MemberError as exc:
            form.add_error(None, str(exc))
        else:
            auth_logout(request)
            return redirect("portal:account_deleted")
    return render(request, "members/portal/account_delete.html", {"form": form, "member": member})


@require_GET
def account_deleted(request: HttpRequest) -> HttpResponse:
    return render(request, "members/portal/account_deleted.html")
