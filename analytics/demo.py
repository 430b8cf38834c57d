"""The analytics demo step: member scores for last month and this one, and the dashboard's default snapshot."""

from datetime import timedelta

from django.utils import timezone

from loyalty_site.demo import steps


def analytics_demo(context: steps.DemoContext) -> None:
    from analytics.services import analytics_refresh, default_period, member_scores_store

    today = timezone.localtime(context.now).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    member_scores_store(as_of=last_month_end)
    period = default_period(today)
    snapshot = analytics_refresh(date_from=period.start, date_to=period.end)
    context.log(f"Analytics: snapshot {snapshot.date_from}..{snapshot.date_to} in {snapshot.duration_ms} ms")


steps.register("analytics", analytics_demo, order=90)
