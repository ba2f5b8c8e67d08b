"""The ``ExternalImportReference`` values rbsync writes (docs/rules.md, "Keys and links").

They are the lookup keys that make a retried create safe, so their format is a contract with
data already in PowerOffice Go: change it only with a migration of existing links.
"""

from __future__ import annotations

__all__ = [
    "customer_reference",
    "invoice_line_reference",
    "invoice_reference",
    "supplier_reference",
]


def customer_reference(number: int) -> str:
    """``rackbeat-customer-<number>``."""
    return f"rackbeat-customer-{number}"


def supplier_reference(number: int) -> str:
    """``rackbeat-supplier-<number>``."""
    return f"rackbeat-supplier-{number}"


def invoice_reference(number: int) -> str:
    """``rackbeat-invoice-<invoice number>``."""
    return f"rackbeat-invoice-{number}"


def invoice_line_reference(number: int, line: int) -> str:
    """``rackbeat-invoice-<invoice number>-line-<n>`` (``n`` = the line's ``SortOrder``)."""
    return f"rackbeat-invoice-{number}-line-{line}"
