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
        due = due_connections(names, period=period, tick=tick, now=now)
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
    assert due_connections(names, period=2.0, tick=2.0, now=now) == names


def test_the_phase_is_stable_and_within_the_period() -> None:
    assert phase("default", 300.0) == phase("default", 300.0)
    assert all(0 <= phase(f"c{i}", 60.0) < 60.0 for i in range(500))
