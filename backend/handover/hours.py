"""A period's mentions by platform and sentiment band, from the hourly tally.

`mention_hours` (migration 0015) keeps how many mentions each UTC hour received
per platform and band, as they arrive. A period is its whole hours from there
plus its edges counted exactly from `mentions` (index-only on
mentions_received_customer). An edge hour is either counted where it overlaps
the period, or taken whole from the tally minus the part outside the period,
whichever reads less:

- the end of a report is "now", and nothing has been received after now, so
  the last hour is taken whole minus what came after the end (next to nothing);
- the start is counted from whichever side of it is the shorter time, at most
  half an hour of mentions.

So the count reads about (hours in the period x platforms x 3) tally rows and
at most half an hour of mentions, however many arrived in the period. All the
pieces are one statement, so one snapshot: the sum is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)

# The bands mention_band() (0015) tallies: the handover's defaults.
TALLY_NEGATIVE_BELOW = -0.25
TALLY_POSITIVE_ABOVE = 0.25


@dataclass(frozen=True)
class Piece:
    """`sign` times the mentions received in [start, end): from the tally's whole hours
    (`hours`, both ends on the hour) or counted from the mentions themselves."""

    sign: int
    hours: bool
    start: datetime
    end: datetime


def hour_of(t: datetime) -> datetime:
    """The UTC hour `t` falls in (as date_trunc('hour', t, 'UTC'))."""
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def pieces(start: datetime, end: datetime) -> list[Piece]:
    """How to count [start, end): pieces whose signed sum is exactly the period."""
    if end <= start:
        return []
    first, last = hour_of(start), hour_of(end)
    top = end if end == last else last + HOUR  # the tally's hours end here
    # The start's hour: count its part inside the period when that is the shorter side.
    inside_first = min(first + HOUR, end) - start
    outside_first = start - first
    out: list[Piece] = []
    if outside_first and inside_first < outside_first:
        if first == last:
            return [Piece(1, False, start, end)]
        out.append(Piece(1, False, start, first + HOUR))
        tally_from = first + HOUR
    else:
        tally_from = first
        if outside_first:
            out.append(Piece(-1, False, first, start))
    if tally_from < top:
        out.append(Piece(1, True, tally_from, top))
    if end < top:
        out.append(Piece(-1, False, end, top))
    return out


def uses_tally(negative_below: float, positive_above: float) -> bool:
    """Whether the tally's bands are the ones asked for (else count the period itself)."""
    return negative_below == TALLY_NEGATIVE_BELOW and positive_above == TALLY_POSITIVE_ABOVE


_FROM_HOURS = """
    SELECT platform, band, {sign} * n AS n FROM mention_hours WHERE hour >= {a} AND hour < {b}
    UNION ALL
    SELECT platform, band, {sign} * n FROM mention_hour_deltas WHERE hour >= {a} AND hour < {b}
"""
_FROM_MENTIONS = """
    SELECT platform, mention_band(sentiment), {sign} * count(*) FROM mentions
    WHERE received_at >= {a} AND received_at < {b} AND NOT is_ours GROUP BY 1, 2
"""


def count_sql(parts: list[Piece]) -> tuple[str, list[datetime]]:
    """One statement summing the pieces by platform and band, and its parameters."""
    args: list[datetime] = []
    selects = []
    for p in parts:
        args += [p.start, p.end]
        a, b = f"${len(args) - 1}::timestamptz", f"${len(args)}::timestamptz"
        selects.append((_FROM_HOURS if p.hours else _FROM_MENTIONS).format(sign=p.sign, a=a, b=b))
    if not selects:
        return "SELECT NULL::text AS platform, NULL::text AS band, 0::bigint AS n WHERE false", []
    body = " UNION ALL ".join(f"({s})" for s in selects)
    return (
        f"SELECT platform, band, sum(n)::bigint AS n FROM ({body}) p(platform, band, n) "
        "GROUP BY 1, 2 HAVING sum(n) <> 0",
        args,
    )
