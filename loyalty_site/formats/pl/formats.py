"""Polish formats as Polish offices write them: 06.12.2026 and 06.12.2026 14:30 (Django's Polish default is
"6 grudnia 2026", too wide for the admin's lists). Everything else (comma decimals, a space between
thousands, the input formats) comes from Django's own Polish formats."""

DATE_FORMAT = "d.m.Y"
DATETIME_FORMAT = "d.m.Y H:i"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
