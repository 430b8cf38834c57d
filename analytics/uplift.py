"""Campaign uplift: the difference in conversion between treated and control members, with a 95% interval.

The interval is Newcombe's hybrid score interval (Newcombe 1998, "Interval estimation for the difference
between independent proportions", method 10): it combines the Wilson score intervals of the two
proportions and, unlike the Wald interval, stays inside [-1, 1] and behaves with small counts or rates
near 0 or 1. The Wald interval is returned beside it for reference. Significant means the interval
excludes zero.
"""

import math

Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def uplift(treated_n: int, treated_conversions: int, control_n: int, control_conversions: int) -> dict:
    """Uplift = treated rate - control rate, with Newcombe's 95% interval; None figures without members."""
    for value in (treated_n, treated_conversions, control_n, control_conversions):
        if value < 0:
            raise ValueError("counts cannot be negative")
    if treated_conversions > treated_n or control_conversions > control_n:
        raise ValueError("conversions cannot exceed the members they come from")
    if treated_n == 0 or control_n == 0:
        return {
            "uplift": None,
            "ci_low": None,
            "ci_high": None,
            "significant": False,
            "wald_low": None,
            "wald_high": None,
            "treated_rate": None,
            "control_rate": None,
        }
    p1, p2 = treated_conversions / treated_n, control_conversions / control_n
    l1, u1 = wilson_interval(treated_conversions, treated_n)
    l2, u2 = wilson_interval(control_conversions, control_n)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    se = math.sqrt(p1 * (1 - p1) / treated_n + p2 * (1 - p2) / control_n)
    return {
        "uplift": difference,
        "ci_low": low,
        "ci_high": high,
        "significant": low > 0 or high < 0,
        "wald_low": difference - Z_95 * se,
        "wald_high": difference + Z_95 * se,
        "treated_rate": p1,
        "control_rate": p2,
    }
