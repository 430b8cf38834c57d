"""Customer lifetime value: BG/NBD (Fader, Hardie and Lee 2005) and Gamma-Gamma (Fader and Hardie 2013), fitted
with scipy.

`lifetimes` implements the same models but is unmaintained since 2020 and pins old numpy/pandas; the two
likelihoods are a few lines each, so they are written out here from the papers and fitted with
scipy.optimize (L-BFGS-B on the logarithms of the parameters, which keeps them positive, with the gradients
written out: one evaluation per step instead of five for finite differences, some 25-40 in all).

Inputs per customer, in one time unit (weeks here, as in the papers):
  x    frequency: repeat purchases (purchase days after the first)
  t_x  recency: time from the first to the last purchase
  T    age: time from the first purchase to the end of the calibration period
  m    monetary value: mean spend of the repeat purchases (Gamma-Gamma uses customers with x > 0 only)
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    def probability_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive | x, t_x, T): 1 for a customer without repeat purchases (the model's convention)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        ratio = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        odds = np.where(x > 0, self.a / (self.b + np.maximum(x, 1) - 1) * ratio, 0.0)
        return 1.0 / (1.0 + odds)

    def expected_purchases(self, t, x, t_x, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t time units (FHL 2005, eq. 10)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
        odds = np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * ratio, 0.0)
        return first / (1 + odds)


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    def expected_spend(self, x, m, population_mean: float | None = None) -> np.ndarray:
        """E[M | x, m]: the customer's expected mean spend; customers with x = 0 get the population mean."""
        x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
        p, q, g = self.p, self.q, self.gamma
        mean = population_mean if population_mean is not None else p * g / (q - 1)
        conditional = (p * (g + x * m)) / (p * x + q - 1)
        return np.where(x > 0, conditional, mean)


def bgnbd_negative_log_likelihood(log_params, x, t_x, T) -> float:
    return bgnbd_negative_log_likelihood_and_gradient(log_params, x, t_x, T)[0]


def bgnbd_negative_log_likelihood_and_gradient(log_params, x, t_x, T) -> tuple[float, np.ndarray]:
    """-LL of FHL (2005) eq. 6 and its gradient in the log parameters (d/d log p = p d/dp).

    LL_i = A1 + A2 + log(exp(A3) + [x > 0] exp(A4)); with w3, w4 the shares of the two terms in that sum,
    each derivative is the derivative of A1 + A2 plus w3 dA3 + w4 dA4 (digamma for the gammaln terms).
    """
    r, alpha, a, b = np.exp(log_params)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    a3 = -(r + x) * log_alpha_T
    repeat = x > 0
    b_x1 = b + np.maximum(x, 1) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(b_x1) - (r + x) * log_alpha_tx, -np.inf)
    total = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - total), np.exp(a4 - total)
    digamma_ab_x = special.digamma(a + b + x)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w3 * log_alpha_T - w4 * log_alpha_tx
    d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
    d_a = special.digamma(a + b) - digamma_ab_x + w4 / a
    d_b = (
        special.digamma(a + b)
        + special.digamma(b + x)
        - special.digamma(b)
        - digamma_ab_x
        - np.where(repeat, w4 / b_x1, 0.0)
    )
    gradient = np.array([r * d_r.sum(), alpha * d_alpha.sum(), a * d_a.sum(), b * d_b.sum()])
    return -float(np.sum(a1 + a2 + total)), -gradient


def fit_bgnbd(x, t_x, T) -> BgNbd:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if len(x) == 0 or not np.any(x > 0):
        raise ValueError("BG/NBD needs customers with repeat purchases")
    with threadpool_limits(limits=1, user_api="blas"):  # BLAS threads spin on L-BFGS-B's 4-vectors
        result = optimize.minimize(
            bgnbd_negative_log_likelihood_and_gradient,
            np.zeros(4),
            args=(x, t_x, T),
            method="L-BFGS-B",
            jac=True,
        )
    return BgNbd(*np.exp(result.x))


def gamma_gamma_negative_log_likelihood(log_params, x, m) -> float:
    return gamma_gamma_negative_log_likelihood_and_gradient(log_params, x, m)[0]


def gamma_gamma_negative_log_likelihood_and_gradient(log_params, x, m) -> tuple[float, np.ndarray]:
    """-LL of the Gamma-Gamma model (Fader and Hardie 2013) and its gradient in the log parameters."""
    p, q, g = np.exp(log_params)
    px = p * x
    log_g_xm = np.log(g + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_g_xm
    )
    digamma_pxq = special.digamma(px + q)
    d_p = x * (digamma_pxq - special.digamma(px) + np.log(m) + np.log(x) - log_g_xm)
    d_q = digamma_pxq - special.digamma(q) + np.log(g) - log_g_xm
    d_g = q / g - (px + q) / (g + x * m)
    gradient = np.array([p * d_p.sum(), q * d_q.sum(), g * d_g.sum()])
    return -float(np.sum(ll)), -gradient


def fit_gamma_gamma(x, m) -> GammaGamma:
    """Fit on customers with at least one repeat purchase and a positive mean spend."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    keep = (x > 0) & (m > 0)
    if keep.sum() < 2:
        raise ValueError("Gamma-Gamma needs customers with repeat purchases")
    with threadpool_limits(limits=1, user_api="blas"):  # BLAS threads spin on L-BFGS-B's 4-vectors
        result = optimize.minimize(
            gamma_gamma_negative_log_likelihood_and_gradient,
            np.zeros(3),
            args=(x[keep], m[keep]),
            method="L-BFGS-B",
            jac=True,
        )
    return GammaGamma(*np.exp(result.x))
