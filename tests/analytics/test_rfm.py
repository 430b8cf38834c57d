"""RFM scores on known quintiles (ties included), the segment grid, and the per-member summary."""

import itertools

import pandas as pd

from analytics.rfm import member_summary, quintile_scores, rfm_scores, segment_movement, segment_of

SEGMENTS = {"champions", "loyal", "promising", "new", "at_risk", "cant_lose", "hibernating", "lost"}


def test_ten_distinct_values_give_two_members_per_quintile():
    scores = quintile_scores(pd.Series(range(1, 11), dtype=float))
    assert scores.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_tied_values_share_the_score_of_their_average_rank():
    # The six 1s share rank 3.5 -> ceil(5 * 3.5 / 10) = 2; 2 has rank 7 -> 4; 4 has rank 9 -> 5.
    scores = quintile_scores(pd.Series([1, 1, 1, 1, 1, 1, 2, 3, 4, 5], dtype=float))
    assert scores.tolist() == [2, 2, 2, 2, 2, 2, 4, 4, 5, 5]


def test_recency_scores_fewer_days_higher():
    scores = quintile_scores(pd.Series([0, 10, 20, 30, 40], dtype=float), higher_is_better=False)
    assert scores.tolist() == [5, 4, 3, 2, 1]


def test_one_member_scores_five_and_empty_input_scores_nobody():
    assert quintile_scores(pd.Series([7.0])).tolist() == [5]
    assert quintile_scores(pd.Series([], dtype=float)).tolist() == []


def test_segment_grid():
    assert segment_of(5, 5, 5) == "champions"
    assert segment_of(4, 4, 3) == "champions"  # FM = (4 + 3 + 1) // 2 = 4
    assert segment_of(3, 3, 3) == "loyal"
    assert segment_of(5, 3, 3) == "loyal"
    assert segment_of(5, 1, 1) == "new"
    assert segment_of(5, 2, 2) == "promising"
    assert segment_of(3, 1, 1) == "promising"
    assert segment_of(1, 5, 4) == "cant_lose"
    assert segment_of(2, 4, 4) == "at_risk"
    assert segment_of(1, 3, 3) == "at_risk"
    assert segment_of(2, 1, 2) == "hibernating"
    assert segment_of(1, 2, 2) == "lost"
    every = {segment_of(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert every == SEGMENTS


def _frame(rows):
    return pd.DataFrame(rows, columns=["member_id", "day", "store", "orders", "net_cents"])


def test_member_summary_with_refunds_and_single_purchases():
    purchases = _frame(
        [
            (1, 100, "a", 1, 1000),
            (1, 107, "a", 1, 3000),
            (1, 107, "b", 1, 1000),  # same day, another store: one purchase day
            (1, 121, "a", 1, 2000),
            (2, 110, "a", 1, 5000),  # a single purchase
            (3, 112, "a", 0, 0),  # only a purchase refunded in full: not a customer
            (4, 130, "a", 1, 900),  # after the as-of day
        ]
    )
    summary = member_summary(purchases, 128)
    assert summary.index.tolist() == [1, 2]
    one, two = summary.loc[1], summary.loc[2]
    assert (one["orders"], one["net_cents"], one["purchase_days"], one["frequency"]) == (4, 7000, 3, 2)
    assert one["recency_days"] == 7 and one["recency_weeks"] == 3.0 and one["age_weeks"] == 4.0
    assert one["repeat_mean_pln"] == 30.0  # (40.00 + 20.00) / 2 repeat days
    assert (two["frequency"], two["recency_weeks"], two["repeat_mean_pln"]) == (0, 0.0, 0.0)
    assert two["recency_days"] == 18


def test_rfm_scores_of_members_and_of_nobody():
    purchases = _frame([(m, 100 + m, "a", m, 1000 * m) for m in range(1, 11)])
    scored = rfm_scores(member_summary(purchases, 120))
    assert scored.loc[10].tolist() == [5, 5, 5, "champions"]
    assert scored.loc[1].tolist() == [1, 1, 1, "lost"]
    assert rfm_scores(member_summary(_frame([]).astype("int64"), 120)).empty


def test_segment_movement_counts_members_present_in_both_months():
    before = pd.Series({1: "new", 2: "loyal", 3: "lost"})
    after = pd.Series({1: "loyal", 2: "loyal", 4: "new"})
    table = segment_movement(before, after)
    assert table.loc["new", "loyal"] == 1 and table.loc["loyal", "loyal"] == 1
    assert table.to_numpy().sum() == 2
