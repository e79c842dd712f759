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
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend import yamlfile
from backend.yamlfile import FileError, FileErrors, Located

Kind = Literal["first", "next"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCKS = ("around_the_clock", "business_hours")
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


def _parse_target(
    doc: Located, key: str, raw: object, base: Target | None, errors: list[FileError]
) -> Target | None:
    if not isinstance(raw, dict):
        errors.append(
            doc.error(
                key,
                f"expected a mapping with first_response and next_response, got {yamlfile.describe(raw)}",
            )
        )
        return None
    values: dict[str, timedelta] = {}
    for name in ("first_response", "next_response"):
        if name in raw:
            try:
                values[name] = parse_duration(raw[name])
            except ValueError as exc:
                errors.append(doc.error(f"{key}.{name}", str(exc)))
        elif base is not None:
            values[name] = getattr(base, name)
        else:
            errors.append(doc.error(key, f"{name} is missing"))
    for extra in sorted(set(raw) - {"first_response", "next_response", "clock"}):
        errors.append(
            doc.error(
                f"{key}.{extra}", "unknown key (expected first_response, next_response, clock)"
            )
        )
    if len(values) != 2:
        return None
    return Target(values["first_response"], values["next_response"])


def policy_from_document(doc: Located) -> SlaPolicy:
    """Validate a parsed sla.yaml; every problem is collected and raised together as FileErrors."""
    errors: list[FileError] = []
    data = doc.data
    if not isinstance(data, dict):
        raise FileErrors(
            [doc.error("", f"expected a mapping of SLA settings, got {yamlfile.describe(data)}")]
        )

    known = {"time_zone", "warning", "targets", "platforms", "business_hours", "holidays"}
    for extra in sorted(set(data) - known):
        errors.append(doc.error(extra, f"unknown key (expected one of {', '.join(sorted(known))})"))

    time_zone = data.get("time_zone")
    if not isinstance(time_zone, str) or not time_zone:
        errors.append(
            doc.error(
                "time_zone",
                f"expected a time zone name like Europe/Berlin, got {yamlfile.describe(time_zone)}",
            )
        )
        time_zone = "UTC"
    else:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(
                doc.error(
                    "time_zone",
                    f"{time_zone!r} is not a known time zone (use a name like Europe/Berlin)",
                )
            )
            time_zone = "UTC"

    warning = WarningRule(elapsed_fraction=0.75)
    raw_warning = data.get("warning")
    if raw_warning is not None:
        if (
            not isinstance(raw_warning, dict)
            or len(raw_warning) != 1
            or not set(raw_warning) <= {"when_elapsed", "before_due"}
        ):
            errors.append(
                doc.error(
                    "warning",
                    "expected exactly one of when_elapsed (like 75%) or before_due (like 10m)",
                )
            )
        elif "when_elapsed" in raw_warning:
            value = raw_warning["when_elapsed"]
            m = _PERCENT.match(value) if isinstance(value, str) else None
            if not m or not 0 < float(m.group(1)) < 100:
                errors.append(
                    doc.error(
                        "warning.when_elapsed",
                        f"expected a percentage between 0% and 100% like 75%, got {yamlfile.describe(value)}",
                    )
                )
            else:
                warning = WarningRule(elapsed_fraction=float(m.group(1)) / 100)
        else:
            try:
                warning = WarningRule(before_due=parse_duration(raw_warning["before_due"]))
            except ValueError as exc:
                errors.append(doc.error("warning.before_due", str(exc)))

    hours: tuple[tuple[tuple[int, int], ...], ...] | None = None
    raw_hours = data.get("business_hours")
    if raw_hours is not None:
        if not isinstance(raw_hours, dict):
            errors.append(
                doc.error(
                    "business_hours",
                    f"expected a mapping of weekdays (mon..sun), got {yamlfile.describe(raw_hours)}",
                )
            )
        else:
            week: list[tuple[tuple[int, int], ...]] = [() for _ in WEEKDAYS]
            for day_name, value in raw_hours.items():
                key = f"business_hours.{day_name}"
                if day_name not in WEEKDAYS:
                    errors.append(doc.error(key, f"not a weekday (use {', '.join(WEEKDAYS)})"))
                    continue
                try:
                    week[WEEKDAYS.index(day_name)] = _parse_hours(value)
                except ValueError as exc:
                    errors.append(doc.error(key, str(exc)))
            if not any(week):
                errors.append(
                    doc.error(
                        "business_hours",
                        "every day is closed; remove business_hours to work around the clock",
                    )
                )
            hours = tuple(week)

    holidays: set[date] = set()
    annual: set[tuple[int, int]] = set()
    raw_holidays = data.get("holidays", [])
    if not isinstance(raw_holidays, list):
        errors.append(
            doc.error(
                "holidays", f"expected a list of dates, got {yamlfile.describe(raw_holidays)}"
            )
        )
    else:
        for i, value in enumerate(raw_holidays):
            try:
                parsed = _parse_holiday(value)
            except ValueError as exc:
                errors.append(doc.error(f"holidays[{i}]", str(exc)))
                continue
            (holidays.add if isinstance(parsed, date) else annual.add)(parsed)  # type: ignore[arg-type]

    targets: dict[str, Target] = {}
    business_priorities: set[str] = set()
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, dict) or not raw_targets:
        errors.append(
            doc.error(
                "targets",
                f"expected a mapping of priorities (P1, P2, ...) to targets, got {yamlfile.describe(raw_targets)}",
            )
        )
        raw_targets = {}
    for priority, raw in raw_targets.items():
        key = f"targets.{priority}"
        if not _PRIORITY.match(str(priority)):
            errors.append(doc.error(key, "priority names are P1 to P9"))
            continue
        target = _parse_target(doc, key, raw, None, errors)
        if target is not None:
            targets[priority] = target
        clock = (
            raw.get("clock", "around_the_clock") if isinstance(raw, dict) else "around_the_clock"
        )
        if clock not in CLOCKS:
            errors.append(
                doc.error(
                    f"{key}.clock",
                    f"expected around_the_clock or business_hours, got {yamlfile.describe(clock)}",
                )
            )
        elif clock == "business_hours":
            if raw_hours is None:
                errors.append(
                    doc.error(
                        f"{key}.clock", "counts business hours, but business_hours is not set"
                    )
                )
            business_priorities.add(priority)

    platform_targets: dict[tuple[str, str], Target] = {}
    raw_platforms = data.get("platforms", {})
    if not isinstance(raw_platforms, dict):
        errors.append(
            doc.error(
                "platforms",
                f"expected a mapping of platform names to priorities, got {yamlfile.describe(raw_platforms)}",
            )
        )
        raw_platforms = {}
    for platform, per_priority in raw_platforms.items():
        if not isinstance(per_priority, dict):
            errors.append(
                doc.error(
                    f"platforms.{platform}",
                    f"expected a mapping of priorities to targets, got {yamlfile.describe(per_priority)}",
                )
            )
            continue
        for priority, raw in per_priority.items():
            key = f"platforms.{platform}.{priority}"
            if priority not in raw_targets:
                errors.append(doc.error(key, f"priority {priority} has no default under targets"))
                continue
            if isinstance(raw, dict) and "clock" in raw:
                errors.append(
                    doc.error(
                        f"{key}.clock",
                        "the clock is set per priority under targets, not per platform",
                    )
                )
            base = targets.get(priority)
            if base is None:
                continue  # its default is already reported
            target = _parse_target(doc, key, raw, base, errors)
            if target is not None:
                platform_targets[(str(platform), priority)] = target

    if errors:
        raise FileErrors(errors)
    return SlaPolicy(
        time_zone=time_zone,
        targets=targets,
        platform_targets=platform_targets,
        business_hours_priorities=frozenset(business_priorities),
        hours=hours,
        holidays=frozenset(holidays),
        annual_holidays=frozenset(annual),
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
