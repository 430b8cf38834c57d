"""Analytics: KPIs, RFM, cohorts, CLV and uplift as DataFrames (no models yet; see the analytics issue)."""
