"""The demo's members, written in sets from loyalty_site.demo.data's plans, with their events."""

from collections.abc import Iterator
from datetime import timedelta

from django.db import transaction

from loyalty_site.demo.bulk import insert
from loyalty_site.demo.data import (
    Buyer,
    PeoplePlanner,
    PersonPlan,
)
from loyalty_site.demo.seeding.common import MEMBER_CHUNK, MEMBER_COLUMNS, _chunks
from members.models import ConsentEvent, LoyaltyCard, Member
from rewards.awards import EventAward, events_award
from rewards.models import EventRule, PointsAccount, TierChange
from rewards.reasons import TIER_QUALIFIED


class PeopleSeeding:
    """demo_seed's members step."""

    def seed_members(self, count: int) -> tuple[list[Buyer], int]:
        """Members with cards, points accounts, consents and sign-up bonuses, written in bulk chunk by chunk."""
        planner = PeoplePlanner(seed=self.seed, count=count, start=self.start, end=self.now, tz=self.tz)
        ids: list[int] = []
        buyers: list[Buyer] = []
        consents = bonuses = 0
        for people in _chunks(planner, MEMBER_CHUNK):
            with transaction.atomic():
                known = len(ids)
                created = insert(Member, MEMBER_COLUMNS, (self._member_row(p, ids) for p in people), return_ids=True)
                ids += created
                # Referrers who joined in an earlier chunk had ids already; those of this chunk are set now.
                for person, member_id in zip(people, created, strict=True):
                    if person.referrer_index is not None and person.referrer_index >= known:
                        Member.objects.filter(pk=member_id).update(referred_by_id=ids[person.referrer_index])
                insert(
                    LoyaltyCard,
                    ("member_id", "number", "issued_at", "is_active"),
                    ((m, p.card_number, p.joined_at, True) for p, m in zip(people, created, strict=True)),
                )
                insert(
                    PointsAccount,
                    ("member_id", "balance", "pending", "tier_id", "tier_since", "updated_at"),
                    ((m, 0, 0, self.bronze.pk, p.joined_at, self.now) for p, m in zip(people, created, strict=True)),
                )
                # Through the service the beat job and imports use, dated when each member earned them.
                awards = [award for p, m in zip(people, created, strict=True) for award in self._events(p, m)]
                bonuses += events_award(awards=awards)
                insert(
                    TierChange,
                    ("member_id", "to_tier_id", "reason_code", "changed_at"),
                    ((m, self.bronze.pk, TIER_QUALIFIED, p.joined_at) for p, m in zip(people, created, strict=True)),
                )
                rows = [
                    (m, channel, purpose, granted, self.texts[channel, purpose].pk if granted else None, source, at)
                    for p, m in zip(people, created, strict=True)
                    for channel, purpose, granted, at, source in p.consents
                ]
                insert(
                    ConsentEvent,
                    ("member_id", "channel", "purpose", "granted", "text_id", "source", "created_at"),
                    rows,
                )
                consents += len(rows)
            buyers += [
                Buyer(m, p.weight, p.active_from, p.active_until, p.home_store, p.online_share)
                for p, m in zip(people, created, strict=True)
            ]
            self.progress(f"Members: {len(ids):,}/{count:,}")
        self.log(
            f"Members: {len(ids):,} with cards and points accounts, {consents:,} consent events, "
            f"{bonuses:,} sign-up bonuses (joined, profile completed, newsletter confirmed)"
        )
        return buyers, ids[0]

    def _member_row(self, person: PersonPlan, ids: list[int]) -> tuple:
        referrer = person.referrer_index
        return (
            person.member_number,
            person.referral_code,
            person.first_name,
            person.last_name,
            person.email,
            person.phone,
            person.birth_date,
            person.gender,
            person.city,
            person.postal_code,
            "pl",
            person.preferred_channel,
            person.joined_at,
            person.join_source,
            Member.Status.ACTIVE,
            ids[referrer] if referrer is not None and referrer < len(ids) else None,
        )

    def _events(self, person: PersonPlan, member_id: int) -> Iterator[EventAward]:
        """The event points a member earned on signing up."""
        yield EventAward(member_id, EventRule.Event.JOINED, "enrolment", person.joined_at)
        if person.profile_complete:
            yield EventAward(
                member_id, EventRule.Event.PROFILE_COMPLETED, "profile", person.joined_at + timedelta(hours=1)
            )
        for channel, purpose, granted, at, _source in person.consents:
            if (channel, purpose, granted) == ("email", "marketing", True):
                yield EventAward(
                    member_id, EventRule.Event.NEWSLETTER_CONFIRMED, "newsletter", at + timedelta(minutes=10)
                )
                break
