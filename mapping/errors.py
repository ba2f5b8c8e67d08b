"""The one error mapping raises: this record cannot be mapped (record it, go on)."""

from __future__ import annotations

__all__ = ["RecordRejected"]


class RecordRejected(Exception):  # noqa: N818 - the name is the project's error-tree contract
    """A record that cannot be mapped, naming the record and the field.

    ``str(exc)`` reads ``customer 10001: field 'address_country': 'Atlantis' is neither an ISO
    3166-1 code nor a known country name``. The attributes are plain JSON values so that the
    ledger can keep them as the failure reason.
    """

    def __init__(self, kind: str, key: str, field: str, reason: str) -> None:
        self.kind = kind
        self.key = key
        self.field = field
        self.reason = reason
        super().__init__(f"{kind} {key}: field {field!r}: {reason}")

    def __reduce__(self) -> tuple[type[RecordRejected], tuple[str, str, str, str]]:
        # Celery pickles exceptions across processes; keep the four fields intact.
        return (type(self), (self.kind, self.key, self.field, self.reason))
