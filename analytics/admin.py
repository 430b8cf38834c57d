"""Analytics admin: dashboards are registered with the analytics views."""
