"""Figures of the apps being built, on DataFrames: campaign results with uplift, challenges, partners."""

import pandas as pd
import pytest

from analytics.optional import campaign_results, challenge_completion, partner_performance


def test_campaign_results_count_conversions_within_the_window_against_control():
    deliveries = pd.DataFrame(
        {
            "campaign": ["spring"] * 6,
            "variant": ["A", "A", "A", "control", "control", "control"],
            "member_id": [1, 2, 3, 4, 5, 6],
            "is_control": [False, False, False, True, True, True],
            "sent_day": [100] * 6,
        }
    )
    purchases = pd.DataFrame(
        {
            "member_id": [1, 1, 2, 3, 4, 6],
            "day": [101, 105, 120, 107, 99, 103],
            "orders": [1, 1, 1, 0, 1, 1],  # member 3's purchase was refunded in full
            "net_cents": [1000, 500, 9000, 0, 700, 300],
        }
    )
    result = campaign_results(deliveries, purchases, days=7).set_index("variant")
    a, control = result.loc["A"], result.loc["control"]
    # A: member 1 converted (2 purchases, 15.00); 2 bought after the window; 3's purchase was refunded.
    assert (a["members"], a["conversions"], a["revenue_cents"]) == (3, 1, 1500)
    # Control: member 6 converted; member 4 bought before the delivery.
    assert (control["members"], control["conversions"], control["revenue_cents"]) == (3, 1, 300)
    assert a["uplift"] == pytest.approx(0.0) and not a["significant"]
    assert pd.isna(control["uplift"])  # the control group has no uplift of its own


def test_empty_inputs_and_not_yet_built_apps():
    assert campaign_results(pd.DataFrame(), pd.DataFrame(), days=7).empty
    assert challenge_completion(pd.DataFrame()) is None
    assert (
        challenge_completion(pd.DataFrame({"member_id": [1, 2], "challenge": [1, 1], "completed": [True, False]}))
        == 0.5
    )
    table = partner_performance(
        pd.DataFrame({"partner": ["kino", "kino", "spa"], "member_id": [1, 1, 2], "points": [100, 50, 300]})
    )
    assert table.to_dict("records") == [
        {"partner": "spa", "redemptions": 1, "points": 300, "members": 1},
        {"partner": "kino", "redemptions": 2, "points": 150, "members": 1},
    ]
