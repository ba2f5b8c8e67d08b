"""The effectively-once create protocol, step by step (pure: the steps are plain callables)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients import AmbiguousWriteError
from kinds.once import Once, create_once


class Remote:
    """A fake remote: records each step in ``log``; ``landed`` holds what exists there."""

    def __init__(self, *, exists: bool = False, drop: bool = False, lands: bool = True) -> None:
        self.log: list[str] = []
        self.landed = exists
        self.drop = drop
        self.lands = lands

    def create(self) -> int:
        self.log.append("create")
        if self.drop:
            self.landed = self.lands
            raise AmbiguousWriteError("dropped", method="POST", path="/v2/Products")
        self.landed = True
        return 7

    def lookup(self) -> int | None:
        self.log.append("lookup")
        return 7 if self.landed else None

    def intent(self) -> None:
        self.log.append("intent")


def _run(remote: Remote, **options: bool) -> Once[int]:
    return create_once(
        create=remote.create, lookup=remote.lookup, record_intent=remote.intent, **options
    )


@pytest.mark.parametrize(
    ("remote", "options", "created", "log"),
    [
        (Remote(), {"look_first": False}, True, ["intent", "create"]),
        (Remote(), {"look_first": True}, True, ["lookup", "intent", "create"]),
        (Remote(exists=True), {"look_first": True}, False, ["lookup"]),
        (
            Remote(drop=True),
            {"look_first": False, "look_after_ambiguity": True},
            True,
            ["intent", "create", "lookup"],
        ),
    ],
)
def test_the_steps_in_order(
    remote: Remote, options: dict[str, bool], created: bool, log: list[str]
) -> None:
    assert _run(remote, **options) == Once(7, created=created)
    assert remote.log == log


@pytest.mark.parametrize(
    "options", [{"look_first": False}, {"look_first": False, "look_after_ambiguity": True}]
)
def test_an_ambiguous_create_not_found_stays_in_doubt(options: dict[str, bool]) -> None:
    remote = Remote(drop=True, lands=False)
    with pytest.raises(AmbiguousWriteError):
        _run(remote, **options)
    assert remote.log[:2] == ["intent", "create"]  # the intent was committed before the create


def test_the_intent_is_recorded_before_the_create_is_sent() -> None:
    seen: list[bool] = []
    remote = Remote()
    create: Callable[[], int] = lambda: (seen.append("intent" in remote.log), remote.create())[1]  # noqa: E731
    create_once(create=create, lookup=remote.lookup, record_intent=remote.intent, look_first=False)
    assert seen == [True]
