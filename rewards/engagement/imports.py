"""Imports of challenges and badges, through the project's file import engine (loyalty_site.files.importing).

Rows are matched on `code`: a new code creates the challenge or badge, a known one updates the columns the
row fills in (an empty cell leaves the value as it is), and a row that changes nothing is left unchanged, so
the same file imported twice changes nothing the second time. The admin's export has these column names, so
an export can be edited and imported back.

There is one validator: each row is checked by the admin's own form (`admin_forms.ChallengeForm`,
`BadgeForm`), bound to the values the challenge or badge would have, so the form's fields, the model's
`clean` and its constraints say the same in a file as on the admin page. The file's cells are only read
here: codes of badges and tiers become their ids, dates and amounts written the Polish way become values,
kinds may be given by code or by their English or Polish name. Forms cost a few queries a row; files of
challenges and badges are tens of rows, not thousands.
"""

from datetime import datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row, register
from loyalty_site.files.importing.cells import bool_cell, choice_lookup, code_cell
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tabular import parse_datetime, parse_decimal
from rewards.models import Tier

from .admin_forms import BadgeForm, ChallengeForm
from .models import Badge, Challenge


def _choice(outcome: Outcome, values: dict, data: dict, column: str, lookup: dict, codes: list[str]) -> None:
    text = values.get(column, "")
    if not text:
        return
    code = lookup.get(text.lower())
    if code is None:
        outcome.fail(
            column,
            text,
            gettext("'%(value)s' is not one of: %(codes)s (or their names)")
            % {"value": text, "codes": ", ".join(codes)},
        )
    else:
        data[column] = code


def _text(values: dict, data: dict, column: str) -> None:
    if text := values.get(column, ""):
        data[column] = text


def _number(outcome: Outcome, values: dict, data: dict, column: str, *, places: int) -> None:
    """A number as staff write it (1 234,50); its range and size are the form's to check."""
    if text := values.get(column, ""):
        try:
            number = parse_decimal(text, places=places)
        except ValueError as exc:
            outcome.fail(column, text, str(exc))
        else:
            data[column] = int(number) if places == 0 else number


def _moment(outcome: Outcome, values: dict, data: dict, column: str, *, next_midnight: bool = False) -> None:
    """A date with an optional time, in the programme's time zone. With `next_midnight`, a date alone means
    up to the end of that day: the end of a challenge is exclusive, so it becomes the next day's midnight."""
    text = values.get(column, "")
    if not text:
        return
    try:
        moment = parse_datetime(text)
    except ValueError as exc:
        outcome.fail(column, text, str(exc))
        return
    if next_midnight and ":" not in text:
        moment = datetime.combine(moment.date() + timedelta(days=1), time())
    data[column] = timezone.make_aware(moment)


def _reference(outcome: Outcome, values: dict, data: dict, column: str, known: dict, message: str) -> None:
    if text := values.get(column, ""):
        if text in known:
            data[column] = known[text]
        else:
            outcome.fail(
                column, text, message % {"code": text, "known": ", ".join(known) or pgettext("tiers", "none yet")}
            )


class _FormImport(ImportHandler):
    """Rows checked by a model form: subclasses say which form and model, and read the cells into values."""

    form_class: type
    model: type
    form_fields: list[str]

    def read(self, values: dict[str, str], outcome: Outcome, chunk: dict) -> dict:
        """The row's cells as form values (only the cells filled in)."""
        raise NotImplementedError

    def lookups(self, rows: list[Row]) -> dict:
        """What a chunk's rows refer to, read once for the chunk."""
        return {}

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set) -> list[Outcome]:
        codes = {row.values.get("code", "") for row in rows} - {""}
        existing = {instance.code: instance for instance in self.model.objects.filter(code__in=codes)}
        chunk = self.lookups(rows)
        outcomes = []
        for row in rows:
            values = row.values
            outcome = Outcome(line=row.line, action="new")
            if extra := values.pop("__extra__", None):
                outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
            code = code_cell(outcome, values, seen, kind=self.kind)
            data = self.read(values, outcome, chunk)
            if outcome.action != "invalid":
                self._check(outcome, values, code, existing.get(code), data)
            outcomes.append(outcome)
        return outcomes

    def _check(self, outcome: Outcome, values: dict, code: str, instance, data: dict) -> None:
        """Bind the admin's form to what the object would be (its values, the row's over them) and take its
        verdict: errors by field, or the object ready to save and whether anything changes."""
        if instance is None:
            instance = self.model()
        before = model_to_dict(instance, fields=self.form_fields)
        form = self.form_class(data={**before, **data, "code": code}, instance=instance)
        if not form.is_valid():
            for field, messages in form.errors.items():
                column = "" if field == "__all__" else field
                for message in messages:
                    outcome.fail(column, values.get(column, "")[:80] if column else "", message)
            return
        if instance.pk is not None:
            after = model_to_dict(form.instance, fields=self.form_fields)
            outcome.action = "update" if after != before else "skip"
        outcome.data = {"code": code, "form": form}

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        # The rows were checked by the form in this transaction just before (the engine prepares a chunk again
        # when it imports it); a row someone else wrote meanwhile is refused, not half-written.
        for outcome in outcomes:
            try:
                with transaction.atomic():
                    outcome.data["form"].save()
            except IntegrityError:
                outcome.fail(
                    "code",
                    outcome.data["code"],
                    gettext("was changed by someone else during the import; upload the file again"),
                )


class ChallengeImport(_FormImport):
    kind = "challenges"
    label = _("Challenges")
    permission = "engagement.add_challenge"
    form_class = ChallengeForm
    model = Challenge
    form_fields = ChallengeForm._meta.fields
    columns = [
        Column(
            "code",
            required=True,
            help=_("The challenge's key: letters, digits, '-' and '_' (at most 40). Rows are matched on it."),
            example="lato-3-zakupy",
        ),
        Column("name", help=_("Required for a new challenge."), example="Trzy zakupy latem"),
        Column("description", help=_("Shown to members."), example="Zrób trzy zakupy do końca sierpnia."),
        Column(
            "kind",
            help=_(
                "purchases, spend, category, new_store, profile, referrals or first_purchase, or the Polish name. "
                "Required for a new challenge."
            ),
            example="purchases",
        ),
        Column(
            "target",
            help=_("How many purchases, stores or friends; for 'spend', PLN (250,00). 1 when empty."),
            example="3",
        ),
        Column("category", help=_("For 'category': the product category that counts."), example=""),
        Column("store", help=_("Only purchases here count: 'online' or a store code."), example=""),
        Column("starts_at", help=_("2026-06-01 or 01.06.2026, optionally with a time."), example="01.06.2026"),
        Column(
            "ends_at",
            help=_("A date alone includes that whole day; with a time, the first moment that no longer counts."),
            example="31.08.2026",
        ),
        Column("points", help=_("The prize in points (a prize needs points, a badge or both)."), example="300"),
        Column("badge", help=_("The prize badge's code; import the badges first."), example=""),
        Column(
            "audience",
            help=_("everyone, tier or kind (a registered audience such as a segment); everyone when empty."),
            example="everyone",
        ),
        Column("tier", help=_("For the audience 'tier': the code of the lowest tier."), example=""),
        Column("audience_kind", help=_("For the audience 'kind': e.g. segment."), example=""),
        Column("audience_ref", help=_("For the audience 'kind': which one, e.g. the segment's id."), example=""),
        Column("is_active", help=_("tak/nie; a new challenge is active when empty."), example="tak"),
    ]

    def lookups(self, rows: list[Row]) -> dict:
        badges = {row.values.get("badge", "") for row in rows} - {""}
        return {
            "badges": dict(Badge.objects.filter(code__in=badges).values_list("code", "pk")),
            # Tiers are a handful: all of them, so an error can list the codes there are.
            "tiers": dict(Tier.objects.values_list("code", "pk")) if any(r.values.get("tier") for r in rows) else {},
            "kinds": choice_lookup(Challenge.Kind.choices),
            "audiences": choice_lookup(Challenge.Audience.choices),
        }

    def read(self, values: dict[str, str], outcome: Outcome, chunk: dict) -> dict:
        data: dict = {}
        for column in ("name", "description", "category", "store", "audience_kind", "audience_ref"):
            _text(values, data, column)
        _choice(outcome, values, data, "kind", chunk["kinds"], Challenge.Kind.values)
        _choice(outcome, values, data, "audience", chunk["audiences"], Challenge.Audience.values)
        _number(outcome, values, data, "target", places=2)
        _number(outcome, values, data, "points", places=0)
        _moment(outcome, values, data, "starts_at")
        _moment(outcome, values, data, "ends_at", next_midnight=True)
        _reference(
            outcome,
            values,
            data,
            "badge",
            chunk["badges"],
            gettext("no badge with code '%(code)s' (import the badges first)"),
        )
        _reference(
            outcome,
            values,
            data,
            "tier",
            chunk["tiers"],
            gettext("no tier with code '%(code)s' (the tiers are: %(known)s)"),
        )
        bool_cell(outcome, values, data, "is_active")
        return data


class BadgeImport(_FormImport):
    kind = "badges"
    label = _("Badges")
    permission = "engagement.add_badge"
    form_class = BadgeForm
    model = Badge
    form_fields = [name for name in BadgeForm._meta.fields if name != "image"]  # images are added in the admin
    columns = [
        Column(
            "code",
            required=True,
            help=_("The badge's key: letters, digits, '-' and '_' (at most 40). Rows are matched on it."),
            example="staly-klient",
        ),
        Column("name", help=_("Required for a new badge."), example="Stały klient"),
        Column("description", help=_("Shown to members."), example="Za rok w programie."),
        Column(
            "milestone",
            help=_(
                "first_purchase, one_year or tier_reached, or the Polish name; empty: given by challenges "
                "(or unchanged)."
            ),
            example="one_year",
        ),
        Column("tier", help=_("For 'tier_reached': the code of the tier."), example=""),
        Column("is_active", help=_("tak/nie; a new badge is active when empty."), example="tak"),
    ]

    def lookups(self, rows: list[Row]) -> dict:
        return {
            "tiers": dict(Tier.objects.values_list("code", "pk")) if any(r.values.get("tier") for r in rows) else {},
            "milestones": choice_lookup(Badge.Milestone.choices),
        }

    def read(self, values: dict[str, str], outcome: Outcome, chunk: dict) -> dict:
        data: dict = {}
        _text(values, data, "name")
        _text(values, data, "description")
        _choice(outcome, values, data, "milestone", chunk["milestones"], [c for c in Badge.Milestone.values if c])
        _reference(
            outcome,
            values,
            data,
            "tier",
            chunk["tiers"],
            gettext("no tier with code '%(code)s' (the tiers are: %(known)s)"),
        )
        bool_cell(outcome, values, data, "is_active")
        return data


register(BadgeImport())
register(ChallengeImport())
