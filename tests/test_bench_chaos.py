"""bench/chaos.py's pure parts: what it counts on hand-built emulator states, and its verdicts.

The chaos itself (processes, servers, faults) is a benchmark, run by hand; these tests check
that its figures mean what docs/benchmarks.md says they mean.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_chaos", BENCH / "chaos.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_chaos"] = module
    spec.loader.exec_module(module)
    return module


GROUP = {"number": 1010, "name": "Varer 25 %", "has_inventory": True, "vat_domestic": 25}


def _product(number: str, name: str, price: float = 100.0) -> dict[str, Any]:
    return {
        "number": number,
        "name": name,
        "description": None,
        "sales_price": price,
        "recommended_cost_price": 60.0,
        "inventory_enabled": True,
        "group": GROUP,
        "unit": {"number": 1, "name": "stk"},
        "updated_at": "2026-12-04T10:00:00+00:00",
    }


def _customer(number: int, phone: str | None) -> dict[str, Any]:
    return {
        "number": number,
        "name": f"Kunde {number} AS",
        "company_name": f"Kunde {number} AS",
        "contact_phone": phone,
        "invoice_email": f"faktura@kunde{number}.no",
        "address_country": "NO",
        "updated_at": "2026-12-04T10:00:00+00:00",
    }


RACKBEAT: dict[str, Any] = {
    "products": [_product("P-1", "Bolt"), _product("P-2", "Mutter"), _product("P-3", "Skive")],
    "lots": [],
    "customers": [_customer(10001, "+47 22 00 00 01"), _customer(10002, None)],
    "suppliers": [
        {"number": 20001, "company_name": "Uten Mva AS", "company_vat": ""},
    ],
    "customer_invoices": [
        {"number": 30001, "is_booked": False, "customer": {"number": 10001}, "lines": []},
    ],
}


def _po_product(ident: int, code: str, name: str, price: float = 100.0) -> dict[str, Any]:
    return {
        "Id": ident,
        "Code": code,
        "Name": name,
        "ProductGroupId": 7,
        "ProductType": "Product",
        "UnitOfMeasureCode": "EA",
        "UnitCost": 60.0,
        "UnitPrice": price,
        "IsArchived": False,
    }


def _po_customer(ident: int, number: int, phone: str | None) -> dict[str, Any]:
    return {
        "Id": ident,
        "Name": f"Kunde {number} AS",
        "PhoneNumber": phone,
        "EmailAddress": None,
        "InvoiceEmailAddress": f"faktura@kunde{number}.no",
        "InvoiceDeliveryType": "PdfByEmail",
        "ExternalImportReference": f"rackbeat-customer-{number}",
        "ExternalNumber": number,
        "PaymentTermId": 301,
        "CurrencyCode": "NOK",
    }


POWEROFFICE: dict[str, Any] = {
    "resources": {
        "ProductGroups": [{"Id": 7, "Code": "1010"}],
        "Products": [
            _po_product(1, "P-1", "Bolt"),
            _po_product(2, "P-2", "Mutter"),
            _po_product(3, "P-3", "Skive"),
        ],
        "Customers": [
            _po_customer(11, 10001, "+47 22 00 00 01"),
            _po_customer(12, 10002, None),
        ],
        "Suppliers": [],
        "SalesOrders": [],
    }
}


def test_a_poweroffice_go_that_matches_rackbeat_has_nothing_to_report(chaos: Any) -> None:
    checked = chaos.audit(RACKBEAT, POWEROFFICE)
    # The unbooked invoice is not polled; the supplier without a VAT number counts (skipped).
    assert checked.entities == 6
    assert (checked.duplicates, checked.missing, checked.stale, checked.bad) == (
        0,
        (),
        (),
        frozenset(),
    )


def test_duplicates_are_records_beyond_the_first_per_key(chaos: Any) -> None:
    po = copy.deepcopy(POWEROFFICE)
    po["resources"]["Products"].append(_po_product(4, "P-1", "Bolt"))
    po["resources"]["Customers"] += [
        _po_customer(13, 10002, None),
        _po_customer(14, 10002, None),
    ]
    po["resources"]["SalesOrders"] = [
        {"Id": "a", "ExternalImportReference": "rackbeat-invoice-1"},
        {"Id": "b", "ExternalImportReference": "rackbeat-invoice-1"},
    ]
    assert chaos.duplicates(po) == {
        "Products": 1,
        "Customers": 2,
        "Suppliers": 0,
        "SalesOrders": 1,
    }
    assert chaos.audit(RACKBEAT, po).duplicates == 4


def test_missing_is_a_record_the_rules_send_that_poweroffice_go_lacks(chaos: Any) -> None:
    po = copy.deepcopy(POWEROFFICE)
    po["resources"]["Products"] = po["resources"]["Products"][1:]
    po["resources"]["Customers"] = po["resources"]["Customers"][:1]
    rackbeat = copy.deepcopy(RACKBEAT)
    rackbeat["customer_invoices"][0]["is_booked"] = True  # booked: polled, and its twin lacks
    rackbeat["customer_invoices"][0]["lines"] = [
        {"item": {"number": "P-2"}, "name": "Mutter", "quantity": 1, "line_price": 10.0}
    ]
    checked = chaos.audit(rackbeat, po)
    assert checked.missing == (
        ("customer", "10002"),
        ("invoice", "30001"),
        ("product", "P-1"),
    )


def test_stale_is_poweroffice_go_holding_other_content_than_rackbeats_latest(
    chaos: Any,
) -> None:
    rackbeat = copy.deepcopy(RACKBEAT)
    rackbeat["products"][1]["name"] = "Mutter v2"  # changed, never sent: the lost update
    rackbeat["products"][2]["sales_price"] = 120.0
    rackbeat["customers"][0]["contact_phone"] = None  # removed in Rackbeat, kept over there
    checked = chaos.audit(rackbeat, POWEROFFICE)
    assert checked.stale == (
        ("customer", "10001", ("PhoneNumber",)),
        ("product", "P-2", ("Name",)),
        ("product", "P-3", ("UnitPrice",)),
    )
    assert checked.missing == ()


def test_a_record_the_mapping_refuses_is_bad_not_missing(chaos: Any) -> None:
    rackbeat = copy.deepcopy(RACKBEAT)
    rackbeat["products"].append(_product("P-4", "Skrue", price=-5.0))  # negative: refused
    checked = chaos.audit(rackbeat, POWEROFFICE)
    assert checked.bad == frozenset({("product", "P-4")})
    assert checked.missing == ()


def test_stuck_rows_leave_out_the_done_and_the_bad_records_failures(chaos: Any) -> None:
    rackbeat = copy.deepcopy(RACKBEAT)
    rackbeat["products"].append(_product("P-4", "Skrue", price=-5.0))
    checked = chaos.audit(rackbeat, POWEROFFICE)
    rows = [
        ("product", "P-1", "synced"),
        ("product", "P-2", "pending"),
        ("product", "P-3", "dead"),  # an outage outlasted the retries: stuck
        ("product", "P-4", "failed"),  # the bad record: failing is right
        ("customer", "10001", "in_flight"),
        ("supplier", "20001", "skipped"),
        # customer 10002 has no row at all: stuck too
    ]
    counts = chaos.ledger_counts(rows, checked)
    assert (counts.rows, counts.stuck, counts.failed_dead) == (6, 4, 2)
    assert counts.by_status == {
        "synced": 1,
        "pending": 1,
        "dead": 1,
        "failed": 1,
        "in_flight": 1,
        "skipped": 1,
    }


def test_the_verdicts_follow_the_targets_of_issue_13(chaos: Any) -> None:
    good = chaos.Row("pg-outage", 1018, settle_seconds=41.0, settle_timeout=900, fault="x")
    slow = chaos.Row("sigkill-main", 1018, settle_seconds=61.0, settle_timeout=900)
    never = chaos.Row("redis-restart", 1018, stale=2, settle_seconds=None, settle_timeout=900)
    broken = chaos.Row("second-beat", error="fault not injected: beats alive/sent: [3, 0]")
    assert good.targets() == dict.fromkeys(("duplicates", "missing", "stale", "settled"), True)
    assert slow.targets()["settled"] is False
    assert never.targets() == {
        "duplicates": True,
        "missing": True,
        "stale": False,
        "settled": False,
    }
    assert set(broken.targets().values()) == {False}
    text, passed = chaos.verdicts([good])
    assert (text, passed) == (
        "pg-outage: duplicates PASS, missing PASS, stale PASS, settled PASS",
        True,
    )
    assert chaos.verdicts([good, slow])[1] is False
    table = chaos.table([good, never]).splitlines()
    assert table[0].split() == [
        "scenario",
        "entities",
        "duplicates",
        "missing",
        "stale",
        "stuck",
        "failed/dead",
        "settle",
        "s",
        "fault",
    ]
    assert table[1].split()[7] == "41"
    assert table[2].split()[7] == ">900"


def test_the_processes_are_the_procfiles(chaos: Any) -> None:
    commands = chaos.procfile()
    assert commands["worker"].startswith("celery -A worker.app worker ")
    assert "exec celery -A worker.app beat " in commands["beat"]
