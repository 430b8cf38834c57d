"""Import and export of members: the file columns, row validation and bulk writes.

Rows are matched on the member number. New members are enrolled and changed ones updated through the
members services' set versions (`members_enroll_many`, `members_update_many`), audited as staff edits are;
`MemberJoined` is announced for the chunk's new members, with the joining bonus only when staff ticked
"award the joining bonus" on the upload form. Consent columns create consent events with source "import"
and the consent text version chosen on the upload form; a member imported without them has no consent.
"""

import re
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row, mask_column, register
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tabular import parse_bool, parse_date, parse_datetime
from loyalty_site.values import date_problem, too_long

from .forms import mask_date, mask_email, mask_phone
from .models import Channel, ConsentEvent, ConsentPurpose, ConsentText, LoyaltyCard, Member
from .phones import normalise_phone
from .selectors import consent_states
from .services import members_enroll_many, members_update_many

CONSENT_COLUMNS = {
    f"consent_{channel}_{purpose}": (channel, purpose)
    for channel in Channel.values
    for purpose in ConsentPurpose.values
}
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "gender",
    "city",
    "postal_code",
    "preferred_language",
    "preferred_channel",
)
GENDERS = {"k": "f", "f": "f", "kobieta": "f", "m": "m", "mężczyzna": "m", "x": "x", "inna": "x", "inne": "x"}
LANGUAGES = {"pl": "pl", "polski": "pl", "en": "en", "angielski": "en", "english": "en"}
CHANNELS = {"email": "email", "e-mail": "email", "sms": "sms"}
POSTAL_CODE = re.compile(r"^\d{2}-\d{3}$")


JOINING_BONUS_OPTION = "award_joining_bonus"


def awards_joining_bonus(job: ImportJob) -> bool:
    """Whether the job's new members join now (bonus, welcome) rather than arrive from another system's history."""
    return bool(job.options.get(JOINING_BONUS_OPTION))


class MemberImport(ImportHandler):
    kind = "members"
    label = _("Members (with consent)")
    permission = "members.add_member"
    # The upload form asks whether new members get the joining bonus (loyalty_site.files.import_forms).
    joining_bonus_option = JOINING_BONUS_OPTION
    # The failed-rows report repeats contact details: it needs the personal-data permission.
    personal_data = True
    columns = [
        Column(
            "member_number",
            required=True,
            help=_("The member's number: the key rows are matched on."),
            example="1000000001",
        ),
        Column("first_name", help=_("Required for a new member."), example="Zofia"),
        Column("last_name", help=_("Required for a new member."), example="Wójcik"),
        Column("email", example="zofia.wojcik@example.pl"),
        Column("phone", help=_("+48601234567 or 601 234 567"), example="+48601234567"),
        Column("birth_date", help=_("2026-03-01 or 01.03.2026"), example="14.02.1988"),
        Column("gender", help=_("K/M/X"), example="K"),
        Column("city", example="Łódź"),
        Column("postal_code", help=_("NN-NNN"), example="90-001"),
        Column("preferred_language", help=_("pl or en"), example="pl"),
        Column("preferred_channel", help=_("email or sms"), example="email"),
        Column("joined_at", help=_("Date (and time) of joining; today when empty."), example="2025-06-01"),
        Column("card_number", help=_("A loyalty card to attach."), example="2900000000019"),
        *[
            Column(name, help=_("tak/nie; empty leaves the consent unchanged"), example="tak" if i == 0 else "")
            for i, name in enumerate(CONSENT_COLUMNS)
        ],
    ]

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set) -> list[Outcome]:
        numbers = [row.values.get("member_number", "") for row in rows]
        existing = {m.member_number: m for m in Member.objects.filter(member_number__in=numbers)}
        cards = [row.values.get("card_number", "") for row in rows if row.values.get("card_number")]
        card_owner = dict(LoyaltyCard.objects.filter(number__in=cards).values_list("number", "member__member_number"))
        consents = consent_states(member_ids=[m.pk for m in existing.values()])
        texts = _consent_texts(job)
        outcomes = []
        for row in rows:
            outcome = Outcome(line=row.line, action="new")
            values = row.values
            if extra := values.pop("__extra__", None):
                outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
            number = values.get("member_number", "")
            if not number:
                outcome.fail("member_number", "", gettext("is empty"))
            elif not re.fullmatch(r"[0-9A-Za-z\-]{1,20}", number):
                outcome.fail(
                    "member_number",
                    number,
                    ngettext(
                        "may hold only letters, digits and '-' (at most %(limit)d character)",
                        "may hold only letters, digits and '-' (at most %(limit)d characters)",
                        20,
                    )
                    % {"limit": 20},
                )
            elif number in seen:
                outcome.fail("member_number", number, gettext("appears more than once in the file"))
            seen.add(number)
            data = self._parse(values, outcome)
            member = existing.get(number)
            if member is None:
                for name in ("first_name", "last_name"):
                    if not data.get(name):
                        outcome.fail(name, "", gettext("is required for a new member"))
            card = data.pop("card_number", "")
            if card and card_owner.get(card) not in (None, number):
                outcome.fail(
                    "card_number", card, gettext("already belongs to member %(number)s") % {"number": card_owner[card]}
                )
            elif card and ("card", card) in seen:
                outcome.fail("card_number", card, gettext("appears more than once in the file"))
            if card:
                seen.add(("card", card))
            consent_changes = {}
            for column, (channel, purpose) in CONSENT_COLUMNS.items():
                if column in data:
                    granted = data.pop(column)
                    current = consents.get((member.pk if member else None, channel, purpose))
                    if current is None or current != granted:
                        if granted and (channel, purpose) not in texts:
                            version = job.options.get("consent_version") or "?"
                            outcome.fail(
                                column,
                                "tak",
                                gettext("no consent text version '%(version)s' for %(channel)s/%(purpose)s")
                                % {"version": version, "channel": channel, "purpose": purpose},
                            )
                        consent_changes[(channel, purpose)] = granted
            if outcome.action == "invalid":
                outcomes.append(outcome)
                continue
            changes = {}
            if member is not None:
                changes = {
                    name: value
                    for name, value in data.items()
                    if name != "joined_at" and getattr(member, name) != value
                }
                outcome.action = "update" if changes or consent_changes or (card and card not in card_owner) else "skip"
            outcome.data = {
                "number": number,
                "member": member,
                "fields": data,
                "changes": changes,
                "card": card if card not in card_owner else "",
                "consents": consent_changes,
            }
            outcomes.append(outcome)
        return outcomes

    def _parse(self, values: dict[str, str], outcome: Outcome) -> dict:
        data: dict = {}
        for name in ("first_name", "last_name", "city"):
            if values.get(name):
                if problem := too_long(Member._meta.get_field(name), values[name]):
                    outcome.fail(name, values[name][:40], problem)
                data[name] = values[name]
        if email := values.get("email"):
            try:
                validate_email(email)
                data["email"] = email.lower()
            except ValidationError:
                outcome.fail("email", email, gettext("'%(value)s' is not an email address") % {"value": email})
            else:
                if problem := too_long(Member._meta.get_field("email"), email):
                    outcome.fail("email", email[:40], problem)
        if phone := values.get("phone"):
            try:
                data["phone"] = normalise_phone(phone)
            except ValueError as exc:
                outcome.fail("phone", phone, str(exc))
        if text := values.get("birth_date"):
            try:
                born = parse_date(text)
                if born > timezone.localdate():
                    raise ValueError(gettext("'%(value)s' is in the future") % {"value": text})
                if born.year < 1900:
                    raise ValueError(gettext("'%(value)s' is not a plausible birth date") % {"value": text})
                data["birth_date"] = born
            except ValueError as exc:
                outcome.fail("birth_date", text, str(exc))
        for name, mapping in (("gender", GENDERS), ("preferred_language", LANGUAGES), ("preferred_channel", CHANNELS)):
            if text := values.get(name):
                if text.lower() not in mapping:
                    outcome.fail(
                        name,
                        text,
                        gettext("'%(value)s' is not one of: %(choices)s")
                        % {"value": text, "choices": ", ".join(sorted(set(mapping)))},
                    )
                else:
                    data[name] = mapping[text.lower()]
        if text := values.get("postal_code"):
            if not POSTAL_CODE.match(text):
                outcome.fail(
                    "postal_code", text, gettext("'%(value)s' is not a postal code like 00-950") % {"value": text}
                )
            data["postal_code"] = text
        if text := values.get("joined_at"):
            try:
                joined = parse_datetime(text)
                if problem := date_problem(joined, text):
                    raise ValueError(problem)
                if joined.time() == time.min:
                    joined = datetime.combine(joined.date(), time(12))
                data["joined_at"] = timezone.make_aware(joined)
            except ValueError as exc:
                outcome.fail("joined_at", text, str(exc))
        if text := values.get("card_number"):
            if not re.fullmatch(r"[0-9A-Za-z\-]{4,32}", text):
                outcome.fail("card_number", text, gettext("must be 4 to 32 letters or digits"))
            data["card_number"] = text
        for column in CONSENT_COLUMNS:
            if text := values.get(column):
                try:
                    data[column] = parse_bool(text)
                except ValueError as exc:
                    outcome.fail(column, text, str(exc))
        return data

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        now = timezone.now()
        note = f"import #{job.pk}"
        new = [o for o in outcomes if o.action == "new"]
        created = members_enroll_many(
            members=[
                Member(
                    member_number=o.data["number"],
                    join_source=Member.JoinSource.IMPORT,
                    joined_at=o.data["fields"].get("joined_at", now),
                    **{k: v for k, v in o.data["fields"].items() if k in PROFILE_FIELDS},
                )
                for o in new
            ],
            actor=job.created_by,
            welcome=awards_joining_bonus(job),
            note=note,
        )
        for outcome, member in zip(new, created, strict=True):
            outcome.data["member"] = member
        members_update_many(
            changes={
                o.data["member"].pk: o.data["changes"] for o in outcomes if o.action == "update" and o.data["changes"]
            },
            actor=job.created_by,
            note=note,
        )
        LoyaltyCard.objects.bulk_create(
            [LoyaltyCard(member=o.data["member"], number=o.data["card"]) for o in outcomes if o.data["card"]]
        )
        texts = _consent_texts(job)
        ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    member=o.data["member"],
                    channel=channel,
                    purpose=purpose,
                    granted=granted,
                    text=texts.get((channel, purpose)) if granted else None,
                    source=ConsentEvent.Source.IMPORT,
                    actor=job.created_by,
                    created_at=now,
                )
                for o in outcomes
                for (channel, purpose), granted in o.data["consents"].items()
            ]
        )

    def consent_versions(self) -> list[str]:
        """Distinct consent text versions, the newest first: the upload form asks which one members agreed to."""
        versions = ConsentText.objects.order_by("-valid_from", "-created_at").values_list("version", flat=True)
        return list(dict.fromkeys(versions))


def _consent_texts(job: ImportJob) -> dict[tuple[str, str], ConsentText]:
    version = job.options.get("consent_version")
    if not version:
        return {}
    cache = getattr(job, "_consent_texts", None)
    if cache is None:
        cache = {(t.channel, t.purpose): t for t in ConsentText.objects.filter(version=version)}
        job._consent_texts = cache
    return cache


register(MemberImport())
# Contact details in a file of any kind are shown masked in an import's preview to staff without the permission.
mask_column("email", mask_email)
mask_column("phone", mask_phone)
mask_column("birth_date", mask_date)
