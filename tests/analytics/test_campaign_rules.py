"""The "rfm_segment" and "churn_risk" rules and the uplift function reach campaigns' registries when they exist."""

import importlib
import sys
import types
from dataclasses import dataclass

import pytest

from analytics import campaign_rules
from analytics.services import default_period, member_scores_store
from members.models import Member


@dataclass(frozen=True)
class RuleKind:
    code: str
    label: object
    operators: tuple
    value_choices: object
    to_q: object


@pytest.fixture
def fake_campaigns(monkeypatch):
    registered, uplifts = {}, []
    rules = types.ModuleType("campaigns.rules")
    rules.RuleKind = RuleKind
    rules.register = lambda kind: registered.__setitem__(kind.code, kind)
    results = types.ModuleType("campaigns.results")
    results.register_uplift = uplifts.append
    monkeypatch.setitem(sys.modules, "campaigns.rules", rules)
    monkeypatch.setitem(sys.modules, "campaigns.results", results)
    import campaigns

    monkeypatch.setattr(campaigns, "rules", rules, raising=False)
    monkeypatch.setattr(campaigns, "results", results, raising=False)
    module = importlib.reload(campaign_rules)
    yield registered, uplifts, module
    monkeypatch.undo()
    importlib.reload(campaign_rules)


def test_without_campaigns_registries_nothing_is_registered():
    if campaign_rules.rules is None:
        assert campaign_rules.register() is False


def test_kinds_and_uplift_are_registered(fake_campaigns):
    registered, uplifts, _module = fake_campaigns
    assert set(registered) == {"rfm_segment", "churn_risk"}
    assert registered["rfm_segment"].operators == ("eq", "ne")
    assert ("champions", "Champions") in registered["rfm_segment"].value_choices() or registered[
        "rfm_segment"
    ].value_choices()[0][0] == "champions"
    assert uplifts and uplifts[0](10, 9, 10, 3)["significant"] is True


@pytest.mark.django_db
def test_rules_select_members_by_their_latest_scores(fake_campaigns, history):
    registered, _uplifts, _module = fake_campaigns
    segment, risk = registered["rfm_segment"], registered["churn_risk"]
    assert not Member.objects.filter(segment.to_q("eq", "lost")).exists()  # nothing computed yet
    member_scores_store(as_of=default_period().end)
    scored = {s.member_id: s for s in history["a"].__class__.objects.get(pk=history["a"].pk).analytics_scores.all()}
    a_segment = next(iter(scored.values())).segment
    chosen = set(Member.objects.filter(segment.to_q("eq", a_segment)).values_list("pk", flat=True))
    assert history["a"].pk in chosen and history["d"].pk not in chosen
    others = set(Member.objects.filter(segment.to_q("ne", a_segment)).values_list("pk", flat=True))
    assert history["a"].pk not in others and history["d"].pk in others
    everyone = set(Member.objects.filter(risk.to_q("gte", "0")).values_list("pk", flat=True))
    assert everyone == {history[k].pk for k in "abc"}
    with pytest.raises(ValueError):
        segment.to_q("eq", "bogus")
    with pytest.raises(ValueError):
        risk.to_q("gte", "abc")
