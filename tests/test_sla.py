"""SLA policy loading and arithmetic, with time moved by a FrozenClock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backend import yamlfile
from backend.clock import FrozenClock
from backend.sla import policy as sla
from backend.yamlfile import FileErrors

RULES = Path(__file__).resolve().parent.parent / "rules" / "sla.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = UTC


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def policy_from(text: str) -> sla.SlaPolicy:
    return sla.policy_from_document(yamlfile.parse(text, "rules/sla.yaml"))


WEEKLY = """
time_zone: Europe/Berlin
warning: {when_elapsed: 75%}
targets:
  P1: {first_response: 15m, next_response: 30m}
  P3: {first_response: 4h, next_response: 8h, clock: business_hours}
business_hours:
  mon: '08:00-20:00'
  tue: '08:00-20:00'
  wed: '08:00-20:00'
  thu: '08:00-20:00'
  fri: '08:00-20:00'
  sat: '10:00-16:00'
  sun: '08:00-20:00'
holidays:
  - 12-25
  - 2026-12-31
"""


@pytest.fixture
def policy() -> sla.SlaPolicy:
    return policy_from(WEEKLY)


def test_shipped_rules_load_with_documented_targets():
    p = sla.load_policy(RULES)
    assert p.time_zone == "Europe/Berlin"
    assert p.target("P1") == sla.Target(timedelta(minutes=15), timedelta(minutes=30))
    assert p.target("P2") == sla.Target(timedelta(hours=1), timedelta(hours=2))
    assert p.target("P4").first_response == timedelta(hours=24)
    # The bluesky override replaces only the first response.
    assert p.target("P1", "bluesky") == sla.Target(timedelta(minutes=10), timedelta(minutes=30))
    assert p.uses_business_hours("P3") and not p.uses_business_hours("P1")
    assert p.warning.elapsed_fraction == 0.75
    assert p.is_holiday(date(2027, 12, 25)) and not p.is_holiday(date(2027, 12, 27))


def test_around_the_clock_due_and_warn_are_plain_offsets(policy):
    start = datetime(2026, 11, 28, 23, 50, tzinfo=UTC)  # Saturday night, team closed
    assert sla.due_at(policy, "P1", "mastodon", start) == start + timedelta(minutes=15)
    assert sla.due_at(policy, "P1", "mastodon", start, "next") == start + timedelta(minutes=30)
    assert sla.warn_at(policy, "P1", "mastodon", start) == start + timedelta(minutes=11, seconds=15)


def test_business_hours_carry_over_the_night(policy):
    # Tuesday 18:30 Berlin: 1h30 today, 2h30 from Wednesday 08:00.
    start = berlin(2026, 11, 24, 18, 30)
    assert sla.due_at(policy, "P3", "mastodon", start) == berlin(2026, 11, 25, 10, 30)
    # 75% of 4h = 3h: 1h30 today, 1h30 tomorrow.
    assert sla.warn_at(policy, "P3", "mastodon", start) == berlin(2026, 11, 25, 9, 30)


def test_mention_before_opening_starts_counting_at_opening(policy):
    start = berlin(2026, 11, 25, 3, 0)
    assert sla.due_at(policy, "P3", None, start) == berlin(2026, 11, 25, 12, 0)


def test_short_saturday_and_holidays_are_skipped(policy):
    # Friday 2026-12-25 is a holiday (every year); Saturday has 6 hours.
    start = berlin(2026, 12, 24, 19, 0)  # 1h left on Thursday
    # 8h next response: 1h Thu, holiday Fri, 6h Sat, 1h Sun from 08:00.
    assert sla.due_at(policy, "P3", None, start, "next") == berlin(2026, 12, 27, 9, 0)
    # A one-off holiday: New Year's Eve 2026 (Thursday).
    assert sla.due_at(policy, "P3", None, berlin(2026, 12, 30, 19, 0)) == berlin(2027, 1, 1, 11, 0)


def test_dst_spring_forward_in_berlin(policy):
    # Sunday 2026-03-29 clocks jump 02:00 -> 03:00. Opening at 08:00 local is 06:00 UTC
    # that day, not 07:00 UTC as on the Saturday before. Saturday 15:00: 1h left today.
    start = berlin(2026, 3, 28, 15, 0)
    due = sla.due_at(policy, "P3", None, start)
    assert due == berlin(2026, 3, 29, 11, 0)
    assert due.astimezone(UTC) == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)


def test_dst_day_has_23_business_hours_when_open_all_day():
    p = policy_from("""
time_zone: Europe/Berlin
targets: {P3: {first_response: 1h, next_response: 1h, clock: business_hours}}
business_hours: {sat: '00:00-24:00', sun: '00:00-24:00'}
""")
    sunday = sla.business_time_between(p, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0))
    assert sunday == timedelta(hours=23)
    autumn = sla.business_time_between(p, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0))
    assert autumn == timedelta(hours=25)


def test_remaining_counts_down_and_goes_negative_after_breach(policy):
    clock = FrozenClock(berlin(2026, 11, 24, 18, 30).astimezone(UTC))
    due = sla.due_at(policy, "P3", None, clock.now())
    assert sla.remaining(policy, due, clock.now(), priority="P3") == timedelta(hours=4)
    clock.advance(hours=1)
    assert sla.remaining(policy, due, clock.now(), priority="P3") == timedelta(hours=3)
    clock.advance(hours=6)  # overnight: the countdown stands still while closed
    assert sla.remaining(policy, due, clock.now(), priority="P3") == timedelta(hours=2, minutes=30)
    clock.set(berlin(2026, 11, 25, 11, 0).astimezone(UTC))
    assert sla.remaining(policy, due, clock.now(), priority="P3") == timedelta(minutes=-30)
    # Around the clock: wall time.
    p1_due = sla.due_at(policy, "P1", None, clock.now())
    clock.advance(minutes=20)
    assert sla.remaining(policy, p1_due, clock.now(), priority="P1") == timedelta(minutes=-5)


def test_warning_before_due():
    p = policy_from("""
time_zone: UTC
warning: {before_due: 10m}
targets: {P1: {first_response: 15m, next_response: 5m}}
""")
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert sla.warn_at(p, "P1", None, start) == start + timedelta(minutes=5)
    # A target shorter than the warning margin warns straight away.
    assert sla.warn_at(p, "P1", None, start, "next") == start


def test_unknown_priority_and_naive_times_are_refused(policy):
    with pytest.raises(ValueError, match="no SLA target for priority 'P9'"):
        sla.due_at(policy, "P9", None, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.due_at(policy, "P3", None, datetime(2026, 1, 1, 9, 0))


def test_validation_collects_every_error_with_line_and_key():
    text = """time_zone: Europe/Berlinn
warning: {when_elapsed: 175%}
targets:
  P1: {first_response: soon, next_response: 30m}
  P3: {first_response: 4h, next_response: 8h, clock: business_hours}
  urgent: {first_response: 4h, next_response: 8h}
platforms:
  bluesky:
    P2: {first_response: 5m}
holidays:
  - Christmas
"""
    with pytest.raises(FileErrors) as info:
        policy_from(text)
    lines = str(info.value).splitlines()
    assert (
        "rules/sla.yaml:1: time_zone: 'Europe/Berlinn' is not a known time zone (use a name like Europe/Berlin)"
        in lines
    )
    assert any(
        l.startswith("rules/sla.yaml:2: warning.when_elapsed: expected a percentage") for l in lines
    )
    assert any(
        l.startswith("rules/sla.yaml:4: targets.P1.first_response: expected a duration like 15m")
        for l in lines
    )
    assert (
        "rules/sla.yaml:5: targets.P3.clock: counts business hours, but business_hours is not set"
        in lines
    )
    assert "rules/sla.yaml:6: targets.urgent: priority names are P1 to P9" in lines
    assert (
        "rules/sla.yaml:9: platforms.bluesky.P2: priority P2 has no default under targets" in lines
    )
    assert any(l.startswith("rules/sla.yaml:11: holidays[0]: expected a date") for l in lines)
    assert len(lines) == 7


@pytest.mark.parametrize(
    "hours, reason",
    [
        ("'20:00-08:00'", "closes before it opens"),
        ("'08:00-25:00'", "is not a time of day"),
        ("20:00", "expected 'closed' or quoted hours"),
        ("['08:00-12:00', '11:00-14:00']", "opening hours overlap"),
    ],
)
def test_bad_business_hours_name_the_day(hours, reason):
    with pytest.raises(FileErrors) as info:
        policy_from(
            f"time_zone: UTC\ntargets: {{P1: {{first_response: 1h, next_response: 1h}}}}\nbusiness_hours:\n  mon: {hours}\n"
        )
    assert str(info.value).startswith("rules/sla.yaml:4: business_hours.mon: ")
    assert reason in str(info.value)


def test_split_shift_hours(policy):
    p = policy_from("""
time_zone: UTC
targets: {P3: {first_response: 3h, next_response: 3h, clock: business_hours}}
business_hours: {mon: ['08:00-10:00', '14:00-18:00']}
""")
    assert sla.due_at(p, "P3", None, datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 16, 0, tzinfo=UTC
    )


def rows(now: datetime):
    m = timedelta(minutes=1)
    return [
        sla.Watched("quiet", warn_at=now + 5 * m, due_at=now + 10 * m),
        sla.Watched("amber", warn_at=now - 1 * m, due_at=now + 3 * m),
        sla.Watched("late", warn_at=now - 9 * m, due_at=now - 2 * m),
        sla.Watched("warned-late", warn_at=now - 9 * m, due_at=now - 1 * m, warned=True),
        sla.Watched("done", warn_at=now - 9 * m, due_at=now - 4 * m, warned=True, breached=True),
        sla.Watched("paused", warn_at=None, due_at=None),
        # Breached but never marked warned: a warning now would be noise after the breach.
        sla.Watched("breached-only", warn_at=now - 9 * m, due_at=now - 8 * m, breached=True),
    ]


def test_next_deadline_events_reports_what_happened_and_when_to_wake():
    clock = FrozenClock()
    now = clock.now()
    check = sla.next_deadline_events(rows(now), now)
    assert [(e.conversation_id, e.kind, e.at) for e in check.events] == [
        ("late", "sla_breach", now - timedelta(minutes=2)),
        ("warned-late", "sla_breach", now - timedelta(minutes=1)),
        ("amber", "sla_warning", now - timedelta(minutes=1)),
    ]
    # Next thing to happen: "amber" breaches in 3 minutes.
    assert check.next_at == now + timedelta(minutes=3)


def test_sla_clock_loop_fires_each_event_exactly_at_its_moment():
    """Drive the clock task's loop: wake at next_at, mark rows, repeat."""
    clock = FrozenClock()
    start = clock.now()
    table = {r.id: r for r in rows(start)}
    fired: list[tuple[str, str, datetime]] = []
    for _ in range(10):
        check = sla.next_deadline_events(table.values(), clock.now())
        for e in check.events:
            fired.append((e.conversation_id, e.kind, e.at))
            r = table[e.conversation_id]
            table[r.id] = sla.Watched(
                r.id,
                r.warn_at,
                r.due_at,
                warned=True,
                breached=r.breached or e.kind == "sla_breach",
            )
        if check.next_at is None:
            break
        clock.set(check.next_at)
    later = [f for f in fired if f[2] > start]
    assert later == [
        ("amber", "sla_breach", start + timedelta(minutes=3)),
        ("quiet", "sla_warning", start + timedelta(minutes=5)),
        ("quiet", "sla_breach", start + timedelta(minutes=10)),
    ]
    assert sla.next_deadline_events(table.values(), clock.now()).next_at is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
    ],
)
def test_parse_duration(text, expected):
    assert sla.parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "0m", 15, "15 minutes", "h"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        sla.parse_duration(bad)
