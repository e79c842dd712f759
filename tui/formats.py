"""Numbers, clock times, dates and ages as the operator's language writes them (Babel's CLDR data).

"1,234" / "1.234", "3 min ago" / "vor 3 Min.". Clock times are 24-hour in every language: the
console's columns are fixed-width and a shift is read on a 24-hour clock (en included, as before).
"""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_skeleton, format_timedelta
from babel.numbers import format_decimal

from .i18n import babel_locale


def format_count(n: int) -> str:
    """A count with the language's grouping: 1,234 in English, 1.234 in German."""
    return format_decimal(n, locale=babel_locale())


def clock_time(at: datetime) -> str:
    """Hours and minutes on a 24-hour clock, in the zone `at` carries ("14:05")."""
    return format_skeleton("Hm", at, locale=babel_locale())


def day(value: date) -> str:
    """A date as the language writes it in short prose: "Nov 25, 2026" / "25.11.2026"."""
    return format_date(value, "medium", locale=babel_locale())


def age(then: datetime, now: datetime) -> str:
    """How long ago, briefly: "3 min ago" / "vor 3 Min."."""
    return format_timedelta(
        then - now, add_direction=True, format="short", threshold=1.5, locale=babel_locale()
    )
