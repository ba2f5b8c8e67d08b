"""The Rackbeat accounts one emulator serves: each its own tokens, data, clock and webhooks.

Rackbeat is one service with many customer accounts. A bearer token belongs to one account and
sees only that account's records; two accounts may hold the same item and customer numbers.
An account costs a few small objects until it is used: no thread (its webhook delivery thread
starts with its first delivery), no data unless it was created seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sandbox.counters import Counters
from sandbox.rackbeat.clock import Clock
from sandbox.rackbeat.data import generate
from sandbox.rackbeat.resources import RESOURCES
from sandbox.rackbeat.state import RackbeatState
from sandbox.rackbeat.webhooks import HubKnobs, WebhookHub

__all__ = ["DEFAULT_COMPANY_NAME", "AccountRequest", "RackbeatAccount"]

DEFAULT_COMPANY_NAME = "Lagerhuset AS"


class AccountRequest(BaseModel):
    """Body of ``POST /_sandbox/accounts``: a new account, seeded like the default one unless
    told otherwise (``seed``/``scale``), or ``empty``."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(None, min_length=1)
    """Its API token; a fresh one when omitted."""
    other_tokens: list[str] = Field(default_factory=list)
    """More tokens of the same account (other users); the rate limit is per token."""
    account_id: int | None = Field(None, ge=1)
    """``GET self``'s ``user_account.id`` and the webhooks' ``Rackbeat-Account-Id``; the next
    free id when omitted."""
    company_name: str | None = None
    seed: int | None = None
    """The data generator's seed (the emulator's start seed when omitted): two accounts with
    the same seed and scale hold the same records, numbers included."""
    scale: int | None = Field(None, ge=0)
    """Products to generate (the emulator's start scale when omitted); 0 still makes the
    generator's groups, units, customers, suppliers... (``empty`` makes none)."""
    include_bad: bool = False
    empty: bool = False
    """No records at all (what an idle account in a benchmark of many accounts is)."""


@dataclass(eq=False)
class RackbeatAccount:
    """One emulated Rackbeat account."""

    account_id: int
    tokens: list[str]
    company_name: str
    seed: int
    scale: int
    include_bad: bool
    empty: bool
    counters: Counters
    clock: Clock = field(default_factory=Clock)
    state: RackbeatState = field(init=False)
    webhooks: WebhookHub = field(init=False)
    hub_knobs: Callable[[], HubKnobs] | None = None
    now_text: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        self.state = RackbeatState(self.clock)
        if self.hub_knobs is None or self.now_text is None:
            raise ValueError("an account needs the emulator's webhook knobs and clock text")
        self.webhooks = WebhookHub(
            self.hub_knobs,
            self.now_text,
            self.counters.count_event,
            account_id=str(self.account_id),
        )

    @property
    def name(self) -> str:
        """How the admin surface names it (``?account=<id>``)."""
        return str(self.account_id)

    def load(self, *, seed: int | None, scale: int | None, empty: bool) -> dict[str, int]:
        """Replace its records (generated, or none), forget its webhooks; record counts.

        Without ``seed``, ``scale`` or ``empty``, its start state: an account created empty
        stays empty."""
        if seed is None and scale is None and not empty:
            empty = self.empty
        data = (
            None
            if empty
            else generate(
                seed=self.seed if seed is None else seed,
                scale=self.scale if scale is None else scale,
                include_bad=self.include_bad,
            )
        )
        self.clock.restart()
        self.webhooks.reset()
        return self.state.load(data)

    def record_counts(self) -> dict[str, int]:
        return {path: len(self.state.collections[path]) for path in RESOURCES}

    def summary(self, *, default: bool) -> dict[str, Any]:
        """What ``GET /_sandbox/accounts`` lists (sandbox tokens: fine to show)."""
        return {
            "account_id": self.account_id,
            "token": self.tokens[0],
            "other_tokens": self.tokens[1:],
            "company_name": self.company_name,
            "default": default,
            "seed": self.seed,
            "scale": self.scale,
            "empty": self.empty,
            "records": self.record_counts(),
            "requests": self.counters.total_requests(),
            "rate_limited": self.counters.event("rate_limited"),
        }
