"""SLA policy and clock arithmetic: when a reply is due, when to warn, time left.

Rules come from `rules/sla.yaml` (see that file for the format). Everything
here is plain arithmetic on aware datetimes; nothing reads the clock itself.

How the lifecycle uses it (the clock "pauses" by having no due time):

- A new mention opens a conversation: store
  `deadline(policy, priority, platform, mention.created_at, "first")`
  as the conversation's `warn_at`/`due_at`, with `warned = breached = false`.
- We reply publicly and the conversation goes to `awaiting_customer`: set
  `warn_at = due_at = NULL`. The clock is stopped; nothing can breach.
- The customer writes again (or a resolved conversation reopens): store
  `deadline(..., started_at=<their post's time>, kind="next")` and reset
  `warned`/`breached`. The next-response target runs from that moment.
- Moving to DM or a claim does not stop the clock; only waiting for the
  customer does.
- The SLA clock task selects rows with a pending warn/due time, calls
  `next_deadline_events(rows, now)`, writes an event for each result, and
  sleeps until `next_at` (or until a NOTIFY says a due time changed).

All returned datetimes are in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backend import schema, yamlfile
from backend.schema import Schema
from backend.yamlfile import Located

Kind = Literal["first", "next"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
# A calendar with holidays covering everything must not loop forever.
_MAX_DAYS_AHEAD = 3700


@dataclass(frozen=True, slots=True)
class Target:
    """How long the team has to answer: first reply, and each reply after the customer writes again."""

    first_response: timedelta
    next_response: timedelta

    def for_kind(self, kind: Kind) -> timedelta:
        if kind == "first":
            return self.first_response
        if kind == "next":
            return self.next_response
        raise ValueError(f"SLA kind must be 'first' or 'next', not {kind!r}")


@dataclass(frozen=True, slots=True)
class WarningRule:
    """When a conversation turns amber: after a fraction of its target, or some time before it is due."""

    elapsed_fraction: float | None = None
    before_due: timedelta | None = None


@dataclass(frozen=True)
class SlaPolicy:
    """The validated content of rules/sla.yaml."""

    time_zone: str
    targets: Mapping[str, Target]  # priority -> target
    platform_targets: Mapping[tuple[str, str], Target]  # (platform, priority) -> target
    business_hours_priorities: frozenset[str]  # priorities whose clock runs in business hours only
    # Opening hours per weekday (Monday first) as (open, close) minutes since local midnight;
    # None when the team works around the clock.
    hours: tuple[tuple[tuple[int, int], ...], ...] | None
    holidays: frozenset[date] = frozenset()
    annual_holidays: frozenset[tuple[int, int]] = frozenset()  # (month, day), every year
    warning: WarningRule = field(default_factory=lambda: WarningRule(elapsed_fraction=0.75))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def target(self, priority: str, platform: str | None = None) -> Target:
        """The target for a priority, with the platform's override if it has one."""
        if platform is not None and (platform, priority) in self.platform_targets:
            return self.platform_targets[(platform, priority)]
        try:
            return self.targets[priority]
        except KeyError:
            known = ", ".join(sorted(self.targets))
            raise ValueError(f"no SLA target for priority {priority!r} (known: {known})") from None

    def uses_business_hours(self, priority: str) -> bool:
        return self.hours is not None and priority in self.business_hours_priorities

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.annual_holidays


@dataclass(frozen=True, slots=True)
class Deadline:
    """What a conversation stores when its SLA clock (re)starts."""

    warn_at: datetime
    due_at: datetime


# --- arithmetic -----------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _local_moment(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    # Wall-clock time on that day (24:00 is the next midnight); a time skipped by a
    # DST jump resolves to the moment just after it, a repeated one to its first pass.
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def open_periods(policy: SlaPolicy, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Business-hour periods in UTC, in order, from `since` on (the first may start at `since`)."""
    if policy.hours is None:
        raise ValueError("this SLA policy has no business hours")
    since = _utc(since)
    zone = policy.zone
    # Start a day early: a late local evening can still be "yesterday" in local time.
    day = since.astimezone(zone).date() - timedelta(days=1)
    for _ in range(_MAX_DAYS_AHEAD):
        if not policy.is_holiday(day):
            for open_min, close_min in policy.hours[day.weekday()]:
                start = _local_moment(day, open_min, zone)
                end = _local_moment(day, close_min, zone)
                if end > since and end > start:
                    yield max(start, since), end
        day += timedelta(days=1)
    raise ValueError(f"no business hours in the {_MAX_DAYS_AHEAD} days after {since.isoformat()}")


def add_business_time(policy: SlaPolicy, start: datetime, duration: timedelta) -> datetime:
    """The moment `duration` of business time after `start` (closed hours do not count)."""
    left = duration
    for begin, end in open_periods(policy, start):
        if left <= end - begin:
            return begin + left
        left -= end - begin
    raise AssertionError("unreachable: open_periods raises when it runs out")


def business_time_between(policy: SlaPolicy, a: datetime, b: datetime) -> timedelta:
    """Business time from a to b; negative when b is before a."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -business_time_between(policy, b, a)
    total = timedelta()
    for begin, end in open_periods(policy, a):
        if begin >= b:
            break
        total += min(end, b) - begin
    return total


def _add(policy: SlaPolicy, priority: str, start: datetime, duration: timedelta) -> datetime:
    if policy.uses_business_hours(priority):
        return add_business_time(policy, start, duration)
    return _utc(start) + duration


def due_at(
    policy: SlaPolicy,
    priority: str,
    platform: str | None,
    started_at: datetime,
    kind: Kind = "first",
) -> datetime:
    """When the reply is due: the target after `started_at`, in business time if the priority uses it."""
    return _add(policy, priority, started_at, policy.target(priority, platform).for_kind(kind))


def warn_at(
    policy: SlaPolicy,
    priority: str,
    platform: str | None,
    started_at: datetime,
    kind: Kind = "first",
) -> datetime:
    """When the conversation should raise its SLA warning."""
    target = policy.target(priority, platform).for_kind(kind)
    rule = policy.warning
    if rule.before_due is not None:
        elapsed = max(target - rule.before_due, timedelta())
    else:
        elapsed = target * (rule.elapsed_fraction if rule.elapsed_fraction is not None else 1.0)
    return _add(policy, priority, started_at, elapsed)


def deadline(
    policy: SlaPolicy,
    priority: str,
    platform: str | None,
    started_at: datetime,
    kind: Kind = "first",
) -> Deadline:
    """Both stored times at once, for when the clock starts or restarts."""
    return Deadline(
        warn_at(policy, priority, platform, started_at, kind),
        due_at(policy, priority, platform, started_at, kind),
    )


def remaining(policy: SlaPolicy, due: datetime, now: datetime, *, priority: str) -> timedelta:
    """Time left until `due` for the live countdown; negative once breached.

    For business-hours priorities the countdown stands still while the team is closed."""
    if policy.uses_business_hours(priority):
        return business_time_between(policy, now, due)
    return _utc(due) - _utc(now)


# --- the SLA clock task ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Watched:
    """One conversation as the SLA clock sees it (a row of the conversations table)."""

    id: object
    warn_at: datetime | None
    due_at: datetime | None
    warned: bool = False
    breached: bool = False


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """A warning or breach that has happened; `at` is when it happened, not when it was noticed."""

    conversation_id: object
    kind: Literal["sla_warning", "sla_breach"]
    at: datetime


@dataclass(frozen=True, slots=True)
class DeadlineCheck:
    events: tuple[SlaEvent, ...]
    next_at: datetime | None  # the earliest future warn/due time; None when nothing is pending


def next_deadline_events(conversations: Iterable[Watched], now: datetime) -> DeadlineCheck:
    """Which conversations are due a warning or breach event now, and when the next one falls.

    A breach makes its warning moot: a row past due gets only the breach event
    (the caller then sets both `warned` and `breached`). Events come in the order
    they happened, so the event log reads in time order.
    """
    now = _utc(now)
    events: list[SlaEvent] = []
    next_at: datetime | None = None

    def later(moment: datetime) -> None:
        nonlocal next_at
        if next_at is None or moment < next_at:
            next_at = moment

    for row in conversations:
        due = _utc(row.due_at) if row.due_at is not None else None
        warn = _utc(row.warn_at) if row.warn_at is not None else None
        if due is not None and not row.breached:
            if due <= now:
                events.append(SlaEvent(row.id, "sla_breach", due))
                continue
            later(due)
        if warn is not None and not row.warned and not row.breached:
            if warn <= now:
                events.append(SlaEvent(row.id, "sla_warning", warn))
            else:
                later(warn)
    events.sort(key=lambda e: (e.at, e.kind, str(e.conversation_id)))
    return DeadlineCheck(tuple(events), next_at)


# --- loading rules/sla.yaml -----------------------------------------------------------------

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_PRIORITY = re.compile(r"^P[1-9]$")


def parse_duration(text: object) -> timedelta:
    """'15m', '2h', '1h30m', '1d' -> timedelta; ValueError with the accepted forms otherwise."""
    if isinstance(text, str):
        m = _DURATION.match(text)
        if m and any(m.groups()):
            days, hours, minutes = (int(g) if g else 0 for g in m.groups())
            value = timedelta(days=days, hours=hours, minutes=minutes)
            if value > timedelta():
                return value
            raise ValueError("must be longer than zero")
    raise ValueError(f"expected a duration like 15m, 2h or 1h30m, got {yamlfile.describe(text)}")


def _parse_hours(text: object) -> tuple[tuple[int, int], ...]:
    if text == "closed":
        return ()
    ranges = text if isinstance(text, list) else [text]
    out: list[tuple[int, int]] = []
    for item in ranges:
        m = _HOURS.match(item) if isinstance(item, str) else None
        if not m:
            raise ValueError(
                f"expected 'closed' or quoted hours like '08:00-20:00', got {yamlfile.describe(item)}"
            )
        oh, om, ch, cm = (int(g) for g in m.groups())
        if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm):
            raise ValueError(f"{item!r} is not a time of day (00:00 to 24:00)")
        start, end = oh * 60 + om, ch * 60 + cm
        if end <= start:
            raise ValueError(
                f"{item!r} closes before it opens (overnight hours: split them across two days)"
            )
        out.append((start, end))
    out.sort()
    for (_, prev_end), (start, _) in zip(out, out[1:]):
        if start < prev_end:
            raise ValueError("opening hours overlap")
    return tuple(out)


def _parse_holiday(value: object) -> date | tuple[int, int]:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        m = re.match(r"^(\d{2})-(\d{2})$", text)
        if m:
            month, day = int(m.group(1)), int(m.group(2))
            try:
                date(2024, month, day)  # a leap year, so 02-29 is allowed
            except ValueError:
                raise ValueError(f"{text!r} is not a day of the year") from None
            return (month, day)
    raise ValueError(
        f"expected a date like 2026-12-25 or MM-DD for every year, got {yamlfile.describe(value)}"
    )


def _time_zone(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"expected a time zone name like Europe/Berlin, got {yamlfile.describe(value)}"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a known time zone (use a name like Europe/Berlin)"
        ) from None
    return value


def _percentage(value: object) -> float:
    m = _PERCENT.match(value) if isinstance(value, str) else None
    if not m or not 0 < float(m.group(1)) < 100:
        raise ValueError(
            f"expected a percentage between 0% and 100% like 75%, got {yamlfile.describe(value)}"
        )
    return float(m.group(1)) / 100


def _priority(value: object) -> str:
    if not isinstance(value, str) or not _PRIORITY.match(value):
        raise ValueError("priority names are P1 to P9")
    return value


def _has_default(priority: object, info: ValidationInfo) -> str:
    # A platform only adjusts a priority's target; the priority itself is defined once.
    targets = schema.document(info).get("targets")
    if not isinstance(targets, dict) or priority not in targets:
        raise ValueError(f"priority {priority} has no default under targets")
    return str(priority)


def _no_clock(value: object) -> None:
    raise ValueError("the clock is set per priority under targets, not per platform")


def _some_day_open(week: Mapping[str, tuple[tuple[int, int], ...]]) -> Any:
    if not any(week.values()):
        raise ValueError("every day is closed; remove business_hours to work around the clock")
    return week


_DURATION_HINT = "a duration like 15m, 2h or 1h30m"
Duration = Annotated[timedelta, PlainValidator(parse_duration)]
OpeningHours = Annotated[tuple[tuple[int, int], ...], PlainValidator(_parse_hours)]
Holiday = Annotated[date | tuple[int, int], PlainValidator(_parse_holiday)]


class TargetRule(Schema):
    """One priority under `targets:`."""

    first_response: Duration = Field(description=_DURATION_HINT)
    next_response: Duration = Field(description=_DURATION_HINT)
    clock: Literal["around_the_clock", "business_hours"] = "around_the_clock"

    @field_validator("clock")
    @classmethod
    def _hours_are_set(cls, clock: str, info: ValidationInfo) -> str:
        if clock == "business_hours" and schema.document(info).get("business_hours") is None:
            raise ValueError("counts business hours, but business_hours is not set")
        return clock


class PlatformTarget(Schema):
    """One priority under `platforms.<platform>:`; what is left out comes from `targets:`."""

    first_response: Duration | None = None
    next_response: Duration | None = None
    clock: Annotated[None, PlainValidator(_no_clock)] = None


class WarningSetting(Schema):
    """`warning:`, exactly one of its two forms."""

    when_elapsed: Annotated[float, PlainValidator(_percentage)] | None = None
    before_due: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> WarningSetting:
        if (self.when_elapsed is None) == (self.before_due is None):
            raise ValueError(
                "expected exactly one of when_elapsed (like 75%) or before_due (like 10m)"
            )
        return self


class SlaFile(Schema):
    """What rules/sla.yaml may say (see that file for the format)."""

    time_zone: Annotated[
        str, PlainValidator(_time_zone), Field(description="a time zone name like Europe/Berlin")
    ]
    warning: WarningSetting | None = None
    targets: Annotated[
        dict[Annotated[str, PlainValidator(_priority)], TargetRule],
        Field(min_length=1, description="a target for each priority: P1, P2, ..."),
    ]
    platforms: dict[str, dict[Annotated[str, PlainValidator(_has_default)], PlatformTarget]] = {}
    business_hours: (
        Annotated[dict[Weekday, OpeningHours], AfterValidator(_some_day_open)] | None
    ) = None
    holidays: list[Holiday] = []


def policy_from_document(doc: Located) -> SlaPolicy:
    """Validate a parsed sla.yaml; every problem is collected and raised together as FileErrors."""
    rules = schema.validate_document(doc, SlaFile)
    targets = {p: Target(t.first_response, t.next_response) for p, t in rules.targets.items()}
    platform_targets = {
        (platform, p): Target(
            t.first_response or targets[p].first_response,
            t.next_response or targets[p].next_response,
        )
        for platform, per_priority in rules.platforms.items()
        for p, t in per_priority.items()
    }
    warning = WarningRule(elapsed_fraction=0.75)
    if rules.warning is not None:
        warning = WarningRule(rules.warning.when_elapsed, rules.warning.before_due)
    hours = None
    if rules.business_hours is not None:
        hours = tuple(rules.business_hours.get(day, ()) for day in WEEKDAYS)
    return SlaPolicy(
        time_zone=rules.time_zone,
        targets=targets,
        platform_targets=platform_targets,
        business_hours_priorities=frozenset(
            p for p, t in rules.targets.items() if t.clock == "business_hours"
        ),
        hours=hours,
        holidays=frozenset(d for d in rules.holidays if isinstance(d, date)),
        annual_holidays=frozenset(d for d in rules.holidays if isinstance(d, tuple)),
        warning=warning,
    )


def load_policy(path: str | Path) -> SlaPolicy:
    """Load and validate rules/sla.yaml; raises FileError or FileErrors naming file:line: key."""
    return policy_from_document(yamlfile.load(path))


# (priority 1-4, platform, when the clock starts, "first"|"next") -> (warn at, due at)
Deadlines = Callable[[int, str, datetime, str], tuple[datetime | None, datetime]]


def fixed_deadlines(
    first: timedelta, next: timedelta | None = None, warn_fraction: float = 0.75
) -> Deadlines:
    """The same targets for every priority and platform, around the clock (tests, benchmarks)."""

    def deadlines(
        priority: int, platform: str, started: datetime, kind: str
    ) -> tuple[datetime | None, datetime]:
        target = first if kind == "first" or next is None else next
        return started + target * warn_fraction, started + target

    return deadlines


def policy_deadlines(policy: SlaPolicy) -> Deadlines:
    """Targets from rules/sla.yaml: per priority and platform, in business hours where set."""

    def deadlines(
        priority: int, platform: str, started: datetime, kind: str
    ) -> tuple[datetime | None, datetime]:
        d = deadline(policy, f"P{priority}", platform, started, kind)  # type: ignore[arg-type]
        return d.warn_at, d.due_at

    return deadlines
