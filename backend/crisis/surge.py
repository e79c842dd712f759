"""Surge (crisis) detection: negative mentions arriving much faster than usual.

The detector keeps per-bucket counts of negative mentions (bounded: only as
many buckets as the current window plus the baseline window need). A crisis
starts when the current window holds at least `min_count` mentions and at
least `factor` times what the baseline predicts for a window that long
(while there is less than one window of history, only `min_count` applies). The
baseline is the window before the current one, so a surge does not raise its
own bar.

Hysteresis, so the flag does not flap: once a crisis starts the baseline is
frozen at its pre-crisis value, and the crisis ends only after the rate has
stayed below `release` times the start threshold for `cool_down`.

The caller feeds it from ingest (`observe`) and calls `check()` on a timer
(every `bucket` is plenty), because a crisis also ends by mentions *not*
arriving. At backend start, feed the last `window + baseline_window` of
negative-mention counts from the database with `observe(n, at)` (a warm
start); otherwise a busy but normal hour can look like a surge against an
empty history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.clock import Clock
from backend.config import SurgeConfig

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CrisisStarted:
    """The moment a surge was declared and the rates that decided it (per minute)."""

    at: datetime
    rate_per_minute: float
    baseline_per_minute: float
    threshold_per_minute: float


@dataclass(frozen=True, slots=True)
class CrisisEnded:
    """The moment the crisis was declared over, with the rates that decided it (per minute)."""

    at: datetime
    started_at: datetime
    rate_per_minute: float
    baseline_per_minute: float
    threshold_per_minute: float
    peak_per_minute: float


Transition = CrisisStarted | CrisisEnded

_DEFAULTS = SurgeConfig()


class SurgeDetector:
    """Declares crises and their ends from counts of negative mentions over time."""

    def __init__(
        self,
        window: timedelta = _DEFAULTS.window,
        baseline_window: timedelta = _DEFAULTS.baseline_window,
        factor: float = _DEFAULTS.factor,
        min_count: int = _DEFAULTS.min_count,
        cool_down: timedelta = _DEFAULTS.cool_down,
        clock: Clock | None = None,
        *,
        release: float = _DEFAULTS.release,
        bucket: timedelta = _DEFAULTS.bucket,
    ):
        self.config = SurgeConfig(
            window, baseline_window, factor, min_count, cool_down, release, bucket
        )
        self.clock = clock or Clock()
        self._counts: dict[int, int] = {}
        self._bucket_s = self.config.bucket.total_seconds()
        # History starts when the detector does, unless older counts are fed in (warm start).
        self._history_from = self._bucket_of(self.clock.now())
        self._crisis_since: datetime | None = None
        self._frozen_baseline = 0.0  # per window, from before the crisis
        self._start_threshold = 0.0  # per window
        self._calm_since: datetime | None = None
        self._peak = 0.0

    @classmethod
    def from_config(cls, config: SurgeConfig, clock: Clock | None = None) -> SurgeDetector:
        return cls(
            config.window,
            config.baseline_window,
            config.factor,
            config.min_count,
            config.cool_down,
            clock,
            release=config.release,
            bucket=config.bucket,
        )

    @property
    def in_crisis(self) -> bool:
        return self._crisis_since is not None

    @property
    def crisis_since(self) -> datetime | None:
        return self._crisis_since

    def _bucket_of(self, at: datetime) -> int:
        return int((at - _EPOCH).total_seconds() // self._bucket_s)

    def _buckets(self, span: timedelta) -> int:
        return max(1, round(span.total_seconds() / self._bucket_s))

    def observe(self, count: int, at: datetime | None = None) -> list[Transition]:
        """Record `count` negative mentions at `at` (default now) and evaluate at the clock's now."""
        if count < 0:
            raise ValueError("count must not be negative")
        at = at or self.clock.now()
        index = self._bucket_of(at)
        oldest = (
            self._bucket_of(self.clock.now())
            - self._buckets(self.config.window)
            - self._buckets(self.config.baseline_window)
        )
        if index > oldest:  # older than anything we still compare is of no use
            self._counts[index] = self._counts.get(index, 0) + count
            self._history_from = min(self._history_from, index)
        return self.check()

    def rates(self, now: datetime | None = None) -> tuple[float, float]:
        """(current window count, baseline count scaled to one window) at `now`."""
        now_index = self._bucket_of(now or self.clock.now())
        w = self._buckets(self.config.window)
        b = self._buckets(self.config.baseline_window)
        current_from = now_index - w + 1  # the current window includes the current bucket
        baseline_from = max(current_from - b, self._history_from)
        current = baseline = 0
        for index, n in self._counts.items():
            if index >= current_from:
                if index <= now_index:
                    current += n
            elif index >= baseline_from:
                baseline += n
        covered = current_from - baseline_from  # baseline buckets we actually have history for
        # Less than one window of history extrapolates wildly; until then only min_count applies.
        per_window = baseline * w / covered if covered >= w else 0.0
        return float(current), per_window

    def check(self) -> list[Transition]:
        """Evaluate at the clock's now; returns the crisis transitions that happened (zero or one)."""
        now = self.clock.now()
        self._forget_before(now)
        current, baseline = self.rates(now)
        per_minute = 60.0 / self.config.window.total_seconds()
        cfg = self.config
        if self._crisis_since is None:
            threshold = max(float(cfg.min_count), cfg.factor * baseline)
            if current >= threshold:
                self._crisis_since = now
                self._frozen_baseline = baseline
                self._start_threshold = threshold
                self._calm_since = None
                self._peak = current
                return [
                    CrisisStarted(
                        now, current * per_minute, baseline * per_minute, threshold * per_minute
                    )
                ]
            return []
        self._peak = max(self._peak, current)
        release_at = cfg.release * self._start_threshold
        if current >= release_at:
            self._calm_since = None
            return []
        if self._calm_since is None:
            self._calm_since = now
        if now - self._calm_since < cfg.cool_down:
            return []
        ended = CrisisEnded(
            now,
            self._crisis_since,
            current * per_minute,
            self._frozen_baseline * per_minute,
            release_at * per_minute,
            self._peak * per_minute,
        )
        self._crisis_since = None
        self._calm_since = None
        return [ended]

    def _forget_before(self, now: datetime) -> None:
        oldest = (
            self._bucket_of(now)
            - self._buckets(self.config.window)
            - self._buckets(self.config.baseline_window)
        )
        if any(index <= oldest for index in self._counts):
            self._counts = {i: n for i, n in self._counts.items() if i > oldest}

    @property
    def buckets_held(self) -> int:
        """How many count buckets are in memory (bounded by window + baseline window)."""
        return len(self._counts)
