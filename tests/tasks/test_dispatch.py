"""The poll tick: each connection is due once per period, at a phase of its own."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from tasks.dispatch import due_connections, phase


def _ticks(period: float, tick: float, start: datetime) -> list[datetime]:
    count = round(period / tick)
    return [start + timedelta(seconds=tick * (i + 1)) for i in range(count)]


def test_over_one_period_every_connection_is_due_exactly_once() -> None:
    names = [f"company-{i}" for i in range(1000)]
    period, tick = 300.0, 5.0
    start = datetime(2026, 12, 5, 12, 0, 7, tzinfo=UTC)  # not aligned with the period
    seen: Counter[str] = Counter()
    per_tick = []
    for now in _ticks(period, tick, start):
        due = due_connections(names, period=period, start=now - timedelta(seconds=tick), end=now)
        seen.update(due)
        per_tick.append(len(due))
    assert set(seen) == set(names)
    assert set(seen.values()) == {1}
    # Staggered: about 1000 / 60 a tick, never a burst of all of them.
    assert max(per_tick) < 40
    assert sum(per_tick) == 1000


def test_a_tick_as_long_as_the_period_makes_everyone_due() -> None:
    names = ["a", "b", "default"]
    now = datetime(2026, 12, 5, tzinfo=UTC)
    assert due_connections(names, period=2.0, start=now - timedelta(seconds=2), end=now) == names


def test_a_late_tick_covers_the_time_it_missed_and_no_connection_twice() -> None:
    names = [f"company-{i}" for i in range(300)]
    period = 60.0
    start = datetime(2026, 12, 5, 12, 0, 3, tzinfo=UTC)
    # Ticks ran at irregular times (late, bunched): each covers (previous end, its own time].
    ends = [start + timedelta(seconds=s) for s in (5, 6, 7, 31, 32, 45, 59, 60)]
    seen: Counter[str] = Counter()
    previous = start
    for end in ends:
        seen.update(due_connections(names, period=period, start=previous, end=end))
        previous = end
    assert set(seen) == set(names)
    assert set(seen.values()) == {1}


def test_the_phase_is_stable_and_within_the_period() -> None:
    assert phase("default", 300.0) == phase("default", 300.0)
    assert all(0 <= phase(f"c{i}", 60.0) < 60.0 for i in range(500))
