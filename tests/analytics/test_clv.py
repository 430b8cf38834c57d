"""BG/NBD and Gamma-Gamma reproduce the published CDNOW figures; our summary of the raw sample matches theirs."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from analytics.clv import (
    BgNbd,
    bgnbd_negative_log_likelihood,
    bgnbd_negative_log_likelihood_and_gradient,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_negative_log_likelihood,
    gamma_gamma_negative_log_likelihood_and_gradient,
)
from analytics.frames import day_number
from analytics.rfm import member_summary

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def summary():
    return pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")


def test_bgnbd_reproduces_fader_hardie_lee_2005(summary):
    assert len(summary) == 2357
    model = fit_bgnbd(summary["x"], summary["t_x"], summary["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert getattr(model, name) == pytest.approx(value, rel=0.01), name


def test_bgnbd_conditional_expectation_of_the_papers_worked_customer():
    # FHL 2005, section 4: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
    model = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert float(model.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=0.002)
    # Without repeat purchases the customer is alive by the model's convention.
    assert float(model.probability_alive(0, 0, 38.86)) == 1.0
    assert 0 < float(model.probability_alive(2, 30.43, 38.86)) < 1


def test_gamma_gamma_reproduces_fader_hardie_note(summary):
    model = fit_gamma_gamma(summary["x"], summary["zbar"])
    assert model.p == pytest.approx(6.25, rel=0.01)
    assert model.q == pytest.approx(3.74, rel=0.01)
    assert model.gamma == pytest.approx(15.44, rel=0.01)


@pytest.mark.parametrize("log_params", [[0.0, 0.0, 0.0, 0.0], [-1.4, 1.5, -0.2, 0.9], [0.3, -0.5, 1.0, -1.0]])
def test_bgnbd_gradient_written_out_matches_finite_differences(summary, log_params):
    args = (summary["x"].to_numpy(float), summary["t_x"].to_numpy(float), summary["T"].to_numpy(float))
    point = np.array(log_params)
    numeric = optimize.approx_fprime(point, bgnbd_negative_log_likelihood, 1e-7, *args)
    value, gradient = bgnbd_negative_log_likelihood_and_gradient(point, *args)
    assert value == bgnbd_negative_log_likelihood(point, *args)
    assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("log_params", [[0.0, 0.0, 0.0], [1.8, 1.3, 2.7], [-0.5, 2.0, 0.5]])
def test_gamma_gamma_gradient_written_out_matches_finite_differences(summary, log_params):
    repeat = summary[summary["x"] > 0]
    args = (repeat["x"].to_numpy(float), repeat["zbar"].to_numpy(float))
    point = np.array(log_params)
    numeric = optimize.approx_fprime(point, gamma_gamma_negative_log_likelihood, 1e-7, *args)
    value, gradient = gamma_gamma_negative_log_likelihood_and_gradient(point, *args)
    assert value == gamma_gamma_negative_log_likelihood(point, *args)
    assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_our_summary_of_the_raw_transactions_matches_the_published_one(summary):
    rows = pd.read_csv(
        DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, names=["master_id", "id", "date", "cds", "dollars"]
    )
    rows["day"] = [day_number(date(int(d[:4]), int(d[4:6]), int(d[6:]))) for d in rows["date"].astype(str)]
    end = day_number(date(1997, 9, 30))
    purchases = pd.DataFrame(
        {
            "member_id": rows["id"].astype("int64"),
            "day": rows["day"].astype("int64"),
            "store": "cdnow",
            "orders": 1,
            "net_cents": (rows["dollars"] * 100).round().astype("int64"),
        }
    )
    ours = member_summary(purchases, end)
    theirs = summary.set_index("ID")
    assert len(ours) == 2357
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), theirs["x"].to_numpy())
    np.testing.assert_allclose(ours["recency_weeks"].to_numpy(), theirs["t_x"].to_numpy(), atol=0.006)
    np.testing.assert_allclose(ours["age_weeks"].to_numpy(), theirs["T"].to_numpy(), atol=0.006)
    np.testing.assert_allclose(ours["repeat_mean_pln"].to_numpy(), theirs["zbar"].to_numpy(), atol=0.006)


def test_fit_refuses_data_without_repeat_purchases():
    with pytest.raises(ValueError):
        fit_bgnbd([0, 0], [0, 0], [5, 6])
    with pytest.raises(ValueError):
        fit_gamma_gamma([0, 0], [0, 0])
