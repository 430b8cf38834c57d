"""The demo's logins for staff and the showcase member, and the summary printed at the end."""

import time as clock

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db.models import Count

from loyalty_site.demo.seeding.common import MEMBER_LOGIN, STAFF_LOGIN
from members.models import Member
from rewards.models import PointsAccount
from rewards.selectors import ledger_mismatches, member_standing, points_expiring


class FinishSeeding:
    """demo_seed's last steps."""

    def create_logins(self, showcase_id: int) -> None:
        User = get_user_model()
        username, password = STAFF_LOGIN
        admin = User.objects.filter(username=username).first()
        if admin is None:
            User.objects.create_superuser(username=username, email="admin@example.com", password=password)
            self.staff_note = f"{username} / {password}"
        else:
            self.staff_note = f"{username} (existed already; password unchanged)"
        username, password = MEMBER_LOGIN
        showcase = Member.objects.get(pk=showcase_id)
        user = User.objects.create_user(username=username, email=showcase.email, password=password)
        user.first_name, user.last_name = showcase.first_name, showcase.last_name
        user.save(update_fields=["first_name", "last_name"])
        Member.objects.filter(pk=showcase_id).update(user=user)
        self.member_note = f"{username} / {password}  ({showcase.full_name}, {showcase.member_number})"

    def summary(self, showcase_id: int) -> None:
        showcase = Member.objects.get(pk=showcase_id)
        standing = member_standing(member=showcase)
        expiring = points_expiring(member=showcase, days=30)
        problems = ledger_mismatches()
        if problems:
            raise CommandError(f"The ledger does not add up for {len(problems)} accounts, e.g. {problems[:3]}")
        tiers = dict(PointsAccount.objects.values("tier__name").annotate(n=Count("id")).values_list("tier__name", "n"))
        elapsed = clock.monotonic() - self.started
        self.log(f"Tiers: {', '.join(f'{name}: {count:,}' for name, count in sorted(tiers.items()))}")
        self.log(
            f"Showcase member {showcase.full_name}: tier {standing.tier}, {standing.balance:,} points, "
            f"{standing.pending:,} pending, {expiring:,} expiring within 30 days"
        )
        self.log(f"Ledger check: all {PointsAccount.objects.count():,} accounts match their entries and lots")
        self.log(f"Done in {elapsed:,.0f} s.")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Staff login (admin):   {self.staff_note}"))
        self.stdout.write(self.style.SUCCESS(f"Member login (portal): {self.member_note}"))
