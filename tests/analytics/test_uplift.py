"""Uplift and its interval against Newcombe (1998), Table II (difference of independent proportions)."""

import pytest

from analytics.uplift import uplift


def test_newcombe_example_56_of_70_against_48_of_80():
    result = uplift(70, 56, 80, 48)
    assert result["uplift"] == pytest.approx(0.2)
    # Method 10 (hybrid score): 0.0524 to 0.3339; method 1 (Wald): 0.0575 to 0.3425.
    assert result["ci_low"] == pytest.approx(0.0524, abs=0.0001)
    assert result["ci_high"] == pytest.approx(0.3339, abs=0.0001)
    assert result["wald_low"] == pytest.approx(0.0575, abs=0.0001)
    assert result["wald_high"] == pytest.approx(0.3425, abs=0.0001)
    assert result["significant"] is True


def test_newcombe_example_9_of_10_against_3_of_10():
    result = uplift(10, 9, 10, 3)
    assert result["ci_low"] == pytest.approx(0.1705, abs=0.0001)
    assert result["ci_high"] == pytest.approx(0.8090, abs=0.0001)


def test_an_interval_containing_zero_is_not_significant():
    result = uplift(100, 11, 100, 10)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["significant"] is False


def test_empty_groups_give_no_figures_and_bad_counts_are_refused():
    assert uplift(0, 0, 10, 1)["uplift"] is None
    assert uplift(0, 0, 10, 1)["significant"] is False
    with pytest.raises(ValueError):
        uplift(10, 11, 10, 1)
    with pytest.raises(ValueError):
        uplift(-1, 0, 10, 1)
