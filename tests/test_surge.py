"""Surge detector: crises start and end on the rates, without flapping; time moved by FrozenClock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.clock import FrozenClock
from backend.crisis.surge import (
    CrisisEnded,
    CrisisStarted,
    SurgeConfig,
    SurgeDetector,
)


def detector(clock: FrozenClock, **overrides) -> SurgeDetector:
    cfg = dict(
        window=timedelta(minutes=5),
        baseline_window=timedelta(hours=1),
        factor=3.0,
        min_count=20,
        cool_down=timedelta(minutes=10),
    )
    cfg.update(overrides)
    return SurgeDetector(clock=clock, **cfg)


def feed(d: SurgeDetector, clock: FrozenClock, per_minute: int, minutes: int) -> list:
    """Advance minute by minute, observing `per_minute` negatives in each; collect transitions."""
    out = []
    for _ in range(minutes):
        clock.advance(minutes=1)
        out += d.observe(per_minute, clock.now())
    return out


def warm(d: SurgeDetector, clock: FrozenClock, per_minute: int, minutes: int) -> None:
    """Feed the last `minutes` from history, as the backend does from the database at start."""
    for minute in range(minutes, 0, -1):
        assert d.observe(per_minute, clock.now() - timedelta(minutes=minute)) == []


def test_steady_chatter_is_not_a_crisis():
    clock = FrozenClock()
    d = detector(clock)
    assert feed(d, clock, 3, 120) == []  # 15 per window: under min_count and not a surge
    assert not d.in_crisis


def test_surge_over_baseline_starts_a_crisis_with_its_rates():
    clock = FrozenClock()
    d = detector(clock)
    feed(d, clock, 2, 60)  # usual: 2 a minute, 10 a window
    transitions = feed(d, clock, 20, 5)  # then 20 a minute
    assert len(transitions) == 1
    started = transitions[0]
    assert isinstance(started, CrisisStarted)
    # Threshold is 3x the baseline of 10 per window = 30 per window = 6/min; the second
    # surge minute brings the window to 2*3 + 20*2 = 46 >= 30.
    assert started.at == clock.now() - timedelta(minutes=3)
    assert started.baseline_per_minute == pytest.approx(2.0, rel=0.01)
    assert started.threshold_per_minute == pytest.approx(6.0, rel=0.01)
    assert started.rate_per_minute >= started.threshold_per_minute
    assert d.in_crisis and d.crisis_since == started.at


def test_surge_proportional_to_a_busy_baseline_is_not_a_crisis():
    clock = FrozenClock()
    d = detector(clock)
    warm(d, clock, 10, 60)  # a busy brand: 50 per window is normal
    assert not d.in_crisis
    assert feed(d, clock, 14, 10) == []  # 70 per window < 3 x 50
    # About 3 x 52 (the baseline now includes some 14s) is reached in the fourth minute at 40.
    transitions = feed(d, clock, 40, 5)
    assert len(transitions) == 1 and isinstance(transitions[0], CrisisStarted)
    assert transitions[0].at == clock.now() - timedelta(minutes=1)


def test_min_count_guards_a_quiet_start():
    clock = FrozenClock()
    d = detector(clock)
    assert feed(d, clock, 3, 5) == []  # 15 in the window with no baseline: below min_count
    assert isinstance(feed(d, clock, 10, 1)[0], CrisisStarted)


def test_crisis_ends_only_after_cool_down_and_does_not_flap():
    clock = FrozenClock()
    d = detector(clock)
    feed(d, clock, 1, 60)
    assert isinstance(feed(d, clock, 30, 3)[0], CrisisStarted)
    start_threshold = 20  # min_count (3 x 5 = 15 is lower)
    # Rate hovering just around the start threshold: above release (10), so no end, no restart.
    assert feed(d, clock, 3, 30) == []  # 15 per window
    assert d.in_crisis
    # Falls quiet: the window drains, then cool_down must pass.
    transitions = feed(d, clock, 0, 30)
    assert len(transitions) == 1
    ended = transitions[0]
    assert isinstance(ended, CrisisEnded)
    assert ended.threshold_per_minute == pytest.approx(0.5 * start_threshold / 5)
    # Peak window: the three surge minutes plus two minutes at 3.
    assert ended.peak_per_minute == pytest.approx((90 + 6) / 5)
    # The window count went below 10 (release) when 2 minutes of quiet dropped the
    # 3-a-minute tail to 9; the end is declared 10 minutes later.
    assert ended.at - ended.started_at > timedelta(minutes=30)
    calm_began = ended.at - timedelta(minutes=10)
    assert ended.rate_per_minute < ended.threshold_per_minute
    assert calm_began > ended.started_at
    assert not d.in_crisis


def test_a_brief_return_of_the_surge_resets_the_cool_down():
    clock = FrozenClock()
    d = detector(clock)
    feed(d, clock, 30, 2)
    assert d.in_crisis
    assert feed(d, clock, 0, 12) == []  # calm 7 of the needed 10 minutes
    assert feed(d, clock, 15, 1) == []  # back above release
    ended = feed(d, clock, 0, 30)
    assert len(ended) == 1 and isinstance(ended[0], CrisisEnded)
    # Calm started again after the flare-up: the end is >= 10 minutes after it dropped out.
    assert ended[0].at >= clock.now() - timedelta(minutes=30) + timedelta(minutes=14)


def test_crisis_end_needs_only_the_clock_no_new_mentions():
    clock = FrozenClock()
    d = detector(clock)
    d.observe(50)
    assert d.in_crisis
    clock.advance(minutes=5)
    assert d.check() == []  # window just emptied: calm begins
    clock.advance(minutes=10)
    [ended] = d.check()
    assert isinstance(ended, CrisisEnded) and ended.at == clock.now()


def test_batches_and_late_arrivals_count_in_their_own_bucket():
    clock = FrozenClock()
    d = detector(clock)
    # A batch of 25 from four minutes ago still lands in the current window.
    [started] = d.observe(25, clock.now() - timedelta(minutes=4))
    assert isinstance(started, CrisisStarted)
    clock2 = FrozenClock()
    d2 = detector(clock2)
    # Six minutes ago is outside the window: no crisis.
    assert d2.observe(25, clock2.now() - timedelta(minutes=6)) == []


def test_warm_start_from_history_sets_the_baseline():
    clock = FrozenClock()
    d = detector(clock)
    for minute in range(60, 5, -1):  # the last hour from the database: 10 a minute
        d.observe(10, clock.now() - timedelta(minutes=minute))
    assert not d.in_crisis
    assert d.observe(40) == []  # 40 would be a crisis cold; not against 50/window
    current, baseline = d.rates()
    assert baseline == pytest.approx(50, rel=0.01)


def test_memory_is_bounded_by_the_windows():
    clock = FrozenClock()
    d = detector(clock, bucket=timedelta(seconds=10))
    for _ in range(6 * 60 * 5):  # five hours, one observation every 10 s
        clock.advance(seconds=10)
        d.observe(1)
    # window (30 buckets) + baseline (360 buckets)
    assert d.buckets_held <= 390


def test_config_defaults_and_validation():
    assert SurgeConfig().factor == 3.0
    with pytest.raises(ValueError, match="factor must be more than 1"):
        SurgeConfig(factor=0.5)
