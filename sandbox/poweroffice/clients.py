"""The client companies one PowerOffice Go emulator serves under its one subscription key.

In PowerOffice Go an integration (one application key) reaches many client companies, each
through its own client key, and every request of every client goes through the one API
Management subscription, whose 10 requests/s budget they share. Each client here is its own
company: its own tables, counters and privileges; a token issued for client key K opens only
K's data. A client can be made to refuse its key at ``/OAuth/Token`` (``refused``, as an unknown
key is refused) or to lack modules (``missing_privileges``: 403 on those resources).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.counters import Counters
from sandbox.poweroffice import reference
from sandbox.poweroffice.state import PowerOfficeState

__all__ = [
    "CLIENT_ID_NAMESPACE",
    "RESOURCE_PRIVILEGES",
    "ClientRequest",
    "ClientUpdate",
    "PowerOfficeClient",
]

CLIENT_ID_NAMESPACE = uuid.UUID("0d6f3f7e-8a8c-4d35-9d1e-6c1b2f0e5a11")
"""Client ids of added clients are ``uuid5`` of their key in this namespace: stable per key."""

RESOURCE_PRIVILEGES: dict[str, str] = {
    "Products": "Product_Full",
    "ProductGroups": "Product_Full",
    "Customers": "Customer_Full",
    "Suppliers": "Supplier_Full",
    "SalesOrders": "SalesOrders_Full",
    "ContactGroups": "ContactGroup_Full",
    "PaymentTerms": "CommonServices",
    "VatCodes": "CommonServices",
    "GeneralLedgerAccounts": "GeneralLedgerAccount",
}
"""The privilege (module) each v2 resource needs (docs/api-facts.md, PowerOffice Go 6)."""


def _known_privileges(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(reference.PRIVILEGES))
    if unknown:
        raise ValueError(f"unknown privileges {unknown}; known: {list(reference.PRIVILEGES)}")
    return value


class ClientUpdate(BaseModel):
    """Body of ``PATCH /_sandbox/clients/{client_key}``: change a client's behaviour."""

    model_config = ConfigDict(extra="forbid")

    refused: bool | None = None
    """``/OAuth/Token`` refuses this client key as it refuses an unknown one."""
    module_missing: bool | None = None
    """``true``: the client lacks every module (403 on every v2 resource); ``false``: none."""
    missing_privileges: list[str] | None = None
    """The modules the client lacks, by privilege name (``Product_Full``, ...)."""

    @field_validator("missing_privileges")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_privileges(value)


class ClientRequest(BaseModel):
    """Body of ``POST /_sandbox/clients``: a new client company under the subscription."""

    model_config = ConfigDict(extra="forbid")

    client_key: str | None = Field(None, min_length=1)
    """Its client key; a fresh one when omitted."""
    client_name: str | None = None
    seed: int | None = None
    """Seed of its generated data (the emulator's ``seed`` knob when omitted)."""
    scale: int | None = Field(None, ge=0)
    """Size of its generated data (the emulator's ``scale`` knob when omitted); 0: empty."""
    empty: bool = False
    refused: bool = False
    module_missing: bool = False
    missing_privileges: list[str] = Field(default_factory=list)

    @field_validator("missing_privileges")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _known_privileges(value)


@dataclass(eq=False)
class PowerOfficeClient:
    """One client company: its key, identity, behaviour, counters and tables."""

    client_key: str
    client_id: str
    client_name: str
    seed: int
    scale: int
    counters: Counters
    state: PowerOfficeState
    refused: bool = False
    missing_privileges: frozenset[str] = frozenset()

    def lacks(self, resource: str) -> str | None:
        """The privilege the client lacks for ``resource``, if it lacks one."""
        if not self.missing_privileges:
            return None
        privilege = RESOURCE_PRIVILEGES.get(resource)
        return privilege if privilege in self.missing_privileges else None

    def update(self, change: ClientUpdate) -> None:
        if change.refused is not None:
            self.refused = change.refused
        if change.module_missing is not None:
            self.missing_privileges = (
                frozenset(reference.PRIVILEGES) if change.module_missing else frozenset()
            )
        if change.missing_privileges is not None:
            self.missing_privileges = frozenset(change.missing_privileges)

    def integration_information(self) -> dict[str, Any]:
        """``GET /v2/ClientIntegrationInformation`` for this client."""
        valid = [p for p in reference.PRIVILEGES if p not in self.missing_privileges]
        invalid = [p for p in reference.PRIVILEGES if p in self.missing_privileges]
        return {
            "ClientId": self.client_id,
            "ClientName": self.client_name,
            "ValidPrivileges": valid,
            "InvalidPrivileges": invalid,
            "ActiveClientSubscriptions": ["GoApiV2"],
        }

    def summary(self, *, default: bool) -> dict[str, Any]:
        """What ``GET /_sandbox/clients`` lists (sandbox keys: fine to show)."""
        return {
            "client_key": self.client_key,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "default": default,
            "seed": self.seed,
            "scale": self.scale,
            "refused": self.refused,
            "missing_privileges": sorted(self.missing_privileges),
            "records": self.state.summary(),
            "requests": self.counters.total_requests(),
            "rate_limited": self.counters.event("rate_limited"),
            "token_requests": self.counters.event("token_requests"),
        }
