"""The initial sync, PowerOffice Go -> Rackbeat (R-INIT-1..4), against both emulators over HTTP.

PowerOffice Go is seeded (``reset(seed=1, scale=1)``: 100 products in 5 groups, 10 suppliers,
50 customers); Rackbeat is emptied unless a test is about records it already has. The
emulators' write counters are the proof that nothing is created twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from clients.models import Customer, Product, ProductGroup, Supplier
from kinds.links import NS_PRODUCT, NS_PRODUCT_GROUP
from ledger import EntityLink, InitialSyncItem, RemoteLink, Status, unit_links, upgrade
from mapping import UNIT_ENGLISH_NAMES
from mapping.tables import INITIAL_SUPPLIER_GROUP_NAME
from sandbox.testing import PowerOfficeEmulatorHandle, RackbeatEmulatorHandle
from tasks.initial import (
    INITIAL_SYNC_KINDS,
    LOCK_NAME,
    InitialSyncBusyError,
    KindSummary,
    parse_kinds,
    run_initial_sync,
)
from wiring.runtime import Runtime, build_runtime
from wiring.settings import Settings

SEED = 1
SCALE = 1


class PoData:
    """What the seeded PowerOffice Go holds (read through the client, as the engine does)."""

    def __init__(self, runtime: Runtime) -> None:
        po = runtime.poweroffice
        self.products: list[Product] = list(po.iter_products())
        self.groups: dict[int, ProductGroup] = {g.id: g for g in po.iter_product_groups()}
        self.suppliers: list[Supplier] = list(po.iter_suppliers())
        self.customers: list[Customer] = list(po.iter_customers())

    @property
    def unit_codes(self) -> set[str]:
        return {p.unit_of_measure_code for p in self.products if p.unit_of_measure_code}

    @property
    def used_groups(self) -> set[int]:
        return {p.product_group_id for p in self.products if p.product_group_id is not None}


@pytest.fixture
def seeded(
    runtime: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> PoData:
    """PowerOffice Go seeded for the initial sync, Rackbeat empty, counters zeroed."""
    poweroffice_emulator.reset(seed=SEED, scale=SCALE)
    rackbeat_emulator.reset(empty=True)
    data = PoData(runtime)
    rackbeat_emulator.reset_counters()
    poweroffice_emulator.reset_counters()
    return data


def _writes(rackbeat: RackbeatEmulatorHandle) -> dict[str, int]:
    """Rackbeat records created, per resource."""
    return {k: v["created"] for k, v in rackbeat.counters()["writes"].items() if v["created"]}


def _posts(rackbeat: RackbeatEmulatorHandle) -> int:
    return sum(
        n for route, n in rackbeat.counters()["requests"].items() if route.startswith("POST")
    )


def _summary(report: Any) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        kind: (s.created, s.linked, s.skipped, s.failed, s.already)
        for kind, s in report.summary.items()
        if s.total
    }


def _rackbeat_list(rackbeat: RackbeatEmulatorHandle, resource: str, key: str) -> list[Any]:
    with rackbeat.client() as http:
        body = http.get(resource, params={"limit": 1000}).json()
    return list(body[key])


# --- every kind ---------------------------------------------------------------------------------


def test_copies_units_products_suppliers_customers_into_an_empty_rackbeat(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    report = run_initial_sync(runtime)

    units, groups = len(seeded.unit_codes), len(seeded.used_groups)
    assert report.complete
    assert report.ok
    assert _summary(report) == {
        "units": (units, 0, 0, 0, 0),
        "product_groups": (groups, 0, 0, 0, 0),
        "products": (100, 0, 0, 0, 0),
        "supplier_groups": (1, 0, 0, 0, 0),
        "suppliers": (10, 0, 0, 0, 0),
        "customers": (50, 0, 0, 0, 0),
    }
    assert _writes(rackbeat_emulator) == {
        "units": units,
        "product-groups": groups,
        "products": 100,
        "supplier-groups": 1,
        "suppliers": 10,
        "customers": 50,
    }
    assert report.events == []


def test_units_get_english_names_and_their_link_is_stored(  # R-INIT-2
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    run_initial_sync(runtime, kinds=["units"])

    rackbeat_units = {
        u["number"]: u["name"] for u in _rackbeat_list(rackbeat_emulator, "units", "units")
    }
    with runtime.sessions() as session:
        links = unit_links(session)
    assert set(links) == seeded.unit_codes
    assert {code: rackbeat_units[number] for code, number in links.items()} == {
        code: UNIT_ENGLISH_NAMES[code]
        for code in seeded.unit_codes  # type: ignore[index]
    }


def test_a_unit_keeps_its_rackbeat_number_after_a_rename_in_rackbeat(  # R-INIT-2
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    run_initial_sync(runtime, kinds=["units"])
    with runtime.sessions() as session:
        before = unit_links(session)
    rackbeat_emulator.touch("units", before["EA"], name="Stykk")

    report = run_initial_sync(runtime, kinds=["units", "products"])

    with runtime.sessions() as session:
        assert unit_links(session) == before
    assert report.summary["units"].already == len(seeded.unit_codes)
    assert _writes(rackbeat_emulator).get("units") == len(seeded.unit_codes)
    each = [p for p in seeded.products if p.unit_of_measure_code == "EA"]
    with rackbeat_emulator.client() as http:
        product = http.get(f"products/{each[0].code}").json()["product"]
    assert product["unit"] == {"number": before["EA"], "name": "Stykk"}


def test_products_carry_group_unit_prices_and_description(  # R-INIT-1
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    run_initial_sync(runtime, kinds=["products"])

    by_number = {p["number"]: p for p in _rackbeat_list(rackbeat_emulator, "products", "products")}
    assert set(by_number) == {p.code for p in seeded.products}
    for po in seeded.products:
        rb = by_number[po.code]
        group = seeded.groups[po.product_group_id]  # type: ignore[index]
        assert (rb["name"], rb["description"]) == (po.name, po.description)
        assert (rb["sales_price"], rb["recommended_cost_price"]) == (po.unit_price, po.unit_cost)
        assert (rb["group"]["number"], rb["group"]["name"]) == (int(group.code), group.name)  # type: ignore[arg-type]
        assert rb["unit"]["name"] == UNIT_ENGLISH_NAMES[po.unit_of_measure_code]  # type: ignore[index]
    rb_groups = {
        g["number"]: g
        for g in _rackbeat_list(rackbeat_emulator, "product-groups", "product_groups")
    }
    service = [g for g in seeded.groups.values() if g.product_type == "Service"]
    assert service
    assert all(rb_groups[int(g.code)]["has_inventory"] is False for g in service)  # type: ignore[arg-type]


def test_suppliers_go_into_one_poweroffice_group(  # R-INIT-3
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    run_initial_sync(runtime, kinds=["suppliers"])
    again = run_initial_sync(runtime, kinds=["suppliers"])

    groups = _rackbeat_list(rackbeat_emulator, "supplier-groups", "supplier_groups")
    assert [g["name"] for g in groups] == [INITIAL_SUPPLIER_GROUP_NAME]
    suppliers = _rackbeat_list(rackbeat_emulator, "suppliers", "suppliers")
    assert sorted(s["number"] for s in suppliers) == sorted(s.number for s in seeded.suppliers)  # type: ignore[type-var]
    assert {s["supplier_group_id"] for s in suppliers} == {groups[0]["number"]}
    assert _summary(again) == {"suppliers": (0, 0, 0, 0, 10)}


def test_customers_are_copied_with_their_fields(  # R-INIT-4
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    run_initial_sync(runtime, kinds=["customers"])

    by_number = {
        c["number"]: c for c in _rackbeat_list(rackbeat_emulator, "customers", "customers")
    }
    assert set(by_number) == {c.number for c in seeded.customers}
    for po in seeded.customers:
        rb = by_number[po.number]
        assert po.mail_address is not None
        assert (rb["company_name"], rb["address_city"], rb["address_country"]) == (
            po.name,
            po.mail_address.city,
            po.mail_address.country_code,
        )
        assert (rb["contact_email"], rb["invoice_email"] or None) == (
            po.email_address,
            po.invoice_email_address,
        )


# --- links for the ongoing sync -------------------------------------------------------------------


def test_every_copied_record_is_linked_in_the_ledger_like_the_pipeline_does(
    runtime: Runtime, seeded: PoData
) -> None:
    run_initial_sync(runtime)

    with runtime.sessions() as session:
        links = {(row.kind, row.key): row for row in session.scalars(sa.select(EntityLink))}
        remote = {
            (r.namespace, r.code): r.remote_id for r in session.scalars(sa.select(RemoteLink))
        }
    expected = (
        {("product", p.code): str(p.id) for p in seeded.products}
        | {("supplier", str(s.number)): str(s.id) for s in seeded.suppliers}
        | {("customer", str(c.number)): str(c.id) for c in seeded.customers}
    )
    assert {k: row.remote_id for k, row in links.items()} == expected
    assert {row.status for row in links.values()} == {Status.SYNCED}
    assert all(row.snapshot is not None and row.claim_token is None for row in links.values())
    # Products and customers carry the fingerprint of their mapping (the next poll sends
    # nothing for them); suppliers are create-only and carry none.
    assert all(
        (row.fingerprint is not None) == (kind != "supplier") for (kind, _), row in links.items()
    )
    assert {remote[(NS_PRODUCT, p.code)] for p in seeded.products} == {
        str(p.id) for p in seeded.products
    }
    for group_id in seeded.used_groups:
        code = seeded.groups[group_id].code
        assert remote[(NS_PRODUCT_GROUP, str(code))] == str(group_id)


def test_records_rackbeat_already_has_are_linked_not_duplicated(
    runtime: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # Rackbeat's own start data has customers 10001-10008 and suppliers 20001-20005: the
    # seeded PowerOffice Go numbers its customers from 10001 and its suppliers from 20001.
    poweroffice_emulator.reset(seed=SEED, scale=SCALE)
    rackbeat_customers = {
        c["number"] for c in _rackbeat_list(rackbeat_emulator, "customers", "customers")
    }
    rackbeat_suppliers = {
        s["number"] for s in _rackbeat_list(rackbeat_emulator, "suppliers", "suppliers")
    }
    rackbeat_emulator.reset_counters()

    report = run_initial_sync(runtime, kinds=["suppliers", "customers"])

    assert _summary(report) == {
        "supplier_groups": (1, 0, 0, 0, 0),
        "suppliers": (10 - len(rackbeat_suppliers), len(rackbeat_suppliers), 0, 0, 0),
        "customers": (50 - len(rackbeat_customers), len(rackbeat_customers), 0, 0, 0),
    }
    writes = rackbeat_emulator.counters()["writes"]
    assert writes["customers"]["created"] == 50 - len(rackbeat_customers)
    assert writes["suppliers"]["created"] == 10 - len(rackbeat_suppliers)
    assert rackbeat_emulator.counters()["duplicates_refused"] == 0
    with runtime.sessions() as session:
        linked = session.scalars(
            sa.select(EntityLink.key).where(EntityLink.kind == "customer")
        ).all()
    assert {int(k) for k in linked} >= rackbeat_customers


def test_a_product_rackbeat_already_has_is_linked_and_left_as_it_is(
    runtime: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=SEED, scale=SCALE)
    twin = PoData(runtime).products[2]
    with rackbeat_emulator.client() as http:
        answer = http.post(
            "products",
            json={"number": twin.code, "name": "Rackbeat's own", "group": 1010, "sales_price": 1},
        )
        assert answer.status_code == 201
    rackbeat_emulator.reset_counters()

    report = run_initial_sync(runtime, kinds=["products"])

    assert report.summary["products"].created == 99
    assert report.summary["products"].linked == 1
    assert rackbeat_emulator.counters()["writes"]["products"]["created"] == 99
    with rackbeat_emulator.client() as http:
        product = http.get(f"products/{twin.code}").json()["product"]
    assert (product["name"], product["group"]["number"]) == ("Rackbeat's own", 1010)
    with runtime.sessions() as session:
        link = session.scalar(sa.select(EntityLink).where(EntityLink.key == twin.code))
        group_link = session.get(RemoteLink, ("default", NS_PRODUCT_GROUP, "1010"))
    assert link is not None
    assert (link.remote_id, link.status) == (str(twin.id), "synced")
    assert group_link is None


def test_a_product_group_rackbeat_has_under_the_same_number_is_linked(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    group = seeded.groups[min(seeded.used_groups)]
    assert group.code is not None
    with rackbeat_emulator.client() as http:
        created = http.post("product-groups", json={"number": int(group.code), "name": "Ours"})
        assert created.status_code == 201
    rackbeat_emulator.reset_counters()

    report = run_initial_sync(runtime, kinds=["products"])

    groups = len(seeded.used_groups)
    assert _summary(report)["product_groups"] == (groups - 1, 1, 0, 0, 0)
    assert _writes(rackbeat_emulator)["product-groups"] == groups - 1
    members = [p for p in seeded.products if p.product_group_id == group.id]
    with rackbeat_emulator.client() as http:
        product = http.get(f"products/{members[0].code}").json()["product"]
    assert (product["group"]["number"], product["group"]["name"]) == (int(group.code), "Ours")
    with runtime.sessions() as session:
        link = session.get(RemoteLink, ("default", NS_PRODUCT_GROUP, group.code))
    assert link is not None
    assert link.remote_id == str(group.id)


def test_archived_records_are_skipped_with_the_reason(
    runtime: Runtime,
    seeded: PoData,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    group = seeded.groups[min(seeded.used_groups)]
    with poweroffice_emulator.client() as po:
        archived = po.post(
            "Products",
            json={"Code": "OLD-1", "Name": "Gone", "ProductGroupId": group.id, "IsArchived": True},
        ).json()

    report = run_initial_sync(runtime, kinds=["products"])

    assert _summary(report)["products"] == (100, 0, 1, 0, 0)
    [event] = report.events
    assert (event.source, event.outcome, event.reason) == (
        str(archived["Id"]),
        "skipped",
        "archived in PowerOffice Go",
    )
    assert _writes(rackbeat_emulator)["products"] == 100


def test_a_rackbeat_record_linked_to_another_poweroffice_record_is_left_alone(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    first = seeded.customers[0]
    with runtime.sessions.begin() as session:
        session.add(
            EntityLink(kind="customer", key=str(first.number), status="synced", remote_id="999")
        )

    report = run_initial_sync(runtime, kinds=["customers"])

    assert _summary(report) == {"customers": (49, 0, 1, 0, 0)}
    [event] = report.events
    assert event.reason == (
        f"Rackbeat customer {first.number} is already linked to PowerOffice Go id 999, "
        f"not {first.id}; left as it is"
    )
    with runtime.sessions() as session:
        row = session.scalar(sa.select(EntityLink).where(EntityLink.key == str(first.number)))
    assert row is not None
    assert row.remote_id == "999"


# --- runs again, dry runs, interruptions ---------------------------------------------------------


def test_a_second_run_creates_nothing(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    run_initial_sync(runtime)
    rackbeat_emulator.reset_counters()

    again = run_initial_sync(runtime)

    assert _posts(rackbeat_emulator) == 0
    assert _summary(again) == {
        "units": (0, 0, 0, 0, len(seeded.unit_codes)),
        "products": (0, 0, 0, 0, 100),
        "suppliers": (0, 0, 0, 0, 10),
        "customers": (0, 0, 0, 0, 50),
    }
    assert again.ok


def test_a_dry_run_writes_nothing_and_says_what_it_would_do(
    runtime: Runtime,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=SEED, scale=SCALE)
    rackbeat_emulator.reset_counters()
    poweroffice_emulator.reset_counters()

    report = run_initial_sync(runtime, dry_run=True)

    assert _posts(rackbeat_emulator) == 0
    assert not [
        r
        for r in poweroffice_emulator.counters()["requests"]
        if not r.startswith(("GET", "POST /OAuth"))
    ]
    with runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(InitialSyncItem)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(EntityLink)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(RemoteLink)) == 0
    assert report.dry_run
    assert report.complete
    # The default Rackbeat data has customers 10001-10008 and suppliers 20001-20005.
    assert _summary(report)["customers"] == (42, 8, 0, 0, 0)
    assert _summary(report)["suppliers"] == (5, 5, 0, 0, 0)
    assert _summary(report)["products"] == (100, 0, 0, 0, 0)
    outcomes = Counter((e.kind, e.outcome) for e in report.events)
    assert outcomes[("products", "created")] == 100
    assert outcomes[("customers", "linked")] == 8
    first = next(e for e in report.events if e.kind == "products")
    assert (first.number, first.label.split()[0]) == ("PO-00001", "PO-00001")


def test_a_run_stopped_between_create_and_record_resumes_without_a_duplicate(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    class StopAfter40:
        """After 40 products, the next create lands but its answer is lost, and Rackbeat
        refuses every read after it: the run cannot learn the outcome and must stop."""

        products = 0

        def begin(self, kind: str, total: int) -> None:
            pass

        def step(self, kind: str, outcome: str) -> None:
            if kind == "products":
                self.products += 1
                if self.products == 40:
                    rackbeat_emulator.set_faults(
                        [
                            {"route": "POST /api/products", "commit_then_drop_rate": 1, "times": 1},
                            {"route": "GET /api/*", "burst_429": 1000},
                        ]
                    )

    first = run_initial_sync(runtime, kinds=["products"], progress=StopAfter40())

    assert not first.complete
    assert first.stopped is not None
    assert first.stopped.startswith("RateLimitedError")
    assert first.summary["products"].created == 40
    assert _writes(rackbeat_emulator)["products"] == 41
    landed = seeded.products[40]
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "product", str(landed.id)))
    assert row is not None
    assert (row.status, row.number) == ("intent", landed.code)

    rackbeat_emulator.clear_faults()
    second = run_initial_sync(runtime, kinds=["products"])

    assert second.complete
    assert _summary(second)["products"] == (60, 0, 0, 0, 40)
    assert _writes(rackbeat_emulator)["products"] == 100
    assert rackbeat_emulator.counters()["duplicates_refused"] == 0
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "product", str(landed.id)))
        link = session.scalar(sa.select(EntityLink).where(EntityLink.key == landed.code))
    assert row is not None
    assert row.status == "created"
    assert link is not None
    assert (link.remote_id, link.status) == (str(landed.id), "synced")


def test_an_ambiguous_create_is_looked_up_not_sent_again(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    rackbeat_emulator.set_faults(
        [{"route": "POST /api/customers", "commit_then_drop_rate": 1, "times": 3}]
    )

    report = run_initial_sync(runtime, kinds=["customers"])

    assert _summary(report) == {"customers": (50, 0, 0, 0, 0)}
    assert rackbeat_emulator.counters()["requests"]["POST /api/customers"] == 50
    assert _writes(rackbeat_emulator)["customers"] == 50


def test_a_product_answered_with_its_group_as_a_number_is_recorded_created(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    # The incident: POST products answered "group": <number>, not the group object; the
    # product was created in Rackbeat and recorded as failed.
    first = seeded.products[0]
    group_number = int(seeded.groups[first.product_group_id].code)  # type: ignore[index, arg-type]
    rackbeat_emulator.set_faults(
        [
            {
                "route": "POST /api/products",
                "body_patch": {"product": {"group": group_number}},
                "times": 1,
            }
        ]
    )

    report = run_initial_sync(runtime, kinds=["products"])

    assert [rule["injected"] for rule in rackbeat_emulator.faults()] == [1]
    assert _summary(report)["products"] == (100, 0, 0, 0, 0)
    assert report.ok
    assert rackbeat_emulator.counters()["requests"]["POST /api/products"] == 100
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "product", str(first.id)))
        link = session.scalar(sa.select(EntityLink).where(EntityLink.key == first.code))
    assert row is not None
    assert (row.status, row.number, row.reason) == ("created", first.code, None)
    assert link is not None
    assert (link.remote_id, link.status) == (str(first.id), "synced")
    assert link.snapshot is not None
    assert link.snapshot["group"]["number"] == group_number


def test_created_records_answered_without_their_number_are_looked_up_not_failed(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    rackbeat_emulator.set_faults(
        [{"route": "POST /api/customers", "body_patch": {"customer": {"number": None}}}]
    )

    report = run_initial_sync(runtime, kinds=["customers"])

    assert _summary(report) == {"customers": (50, 0, 0, 0, 0)}
    assert rackbeat_emulator.counters()["requests"]["POST /api/customers"] == 50
    assert _writes(rackbeat_emulator)["customers"] == 50
    with runtime.sessions() as session:
        statuses = Counter(
            session.scalars(
                sa.select(InitialSyncItem.status).where(InitialSyncItem.kind == "customer")
            )
        )
    assert statuses == {"created": 50}


def test_created_records_answered_with_unexpected_types_are_read_back_whole(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    rackbeat_emulator.set_faults(
        [
            {
                "route": "POST /api/suppliers",
                "body_patch": {"supplier": {"company_name": ["?"], "updated_at": {"at": 1}}},
            }
        ]
    )

    report = run_initial_sync(runtime, kinds=["suppliers"])

    assert _summary(report) == {"supplier_groups": (1, 0, 0, 0, 0), "suppliers": (10, 0, 0, 0, 0)}
    requests = rackbeat_emulator.counters()["requests"]
    assert requests["POST /api/suppliers"] == 10
    # The ledger's snapshot is the record as Rackbeat holds it, not the garbled answer.
    with runtime.sessions() as session:
        links = {
            row.key: row.snapshot
            for row in session.scalars(sa.select(EntityLink).where(EntityLink.kind == "supplier"))
        }
    assert {key: snap["company_name"] for key, snap in links.items() if snap} == {
        str(s.number): s.name for s in seeded.suppliers
    }
    assert all(snap and snap.get("updated_at") for snap in links.values())


def test_a_create_in_doubt_whose_look_up_fails_keeps_its_intent(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    # The create answers without its number and the look-up's answer cannot be read either:
    # the outcome is unknown, so the ledger keeps the intent (never "failed"), and the next
    # run finds the record and records it as the one it created.
    first = seeded.customers[0]
    rackbeat_emulator.set_faults(
        [
            {
                "route": "POST /api/customers",
                "body_patch": {"customer": {"number": None}},
                "times": 1,
            },
            {
                "route": "GET /api/customers/*",
                "body_patch": {"customer": {"number": "not a number"}},
                "times": 1,
            },
        ]
    )

    report = run_initial_sync(runtime, kinds=["customers"])

    assert [rule["injected"] for rule in rackbeat_emulator.faults()] == [1, 1]
    [event] = [e for e in report.events if e.source == str(first.id)]
    assert event.outcome == "failed"
    assert event.reason is not None
    assert event.reason.startswith("outcome unknown: ")
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "customer", str(first.id)))
    assert row is not None
    assert (row.status, row.number) == ("intent", str(first.number))

    rackbeat_emulator.clear_faults()
    again = run_initial_sync(runtime, kinds=["customers"])

    assert _summary(again) == {"customers": (1, 0, 0, 0, 49)}
    assert _writes(rackbeat_emulator)["customers"] == 50
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "customer", str(first.id)))
    assert row is not None
    assert row.status == "created"


def test_a_number_taken_in_rackbeat_during_the_run_is_linked(
    runtime: Runtime, seeded: PoData, rackbeat_emulator: RackbeatEmulatorHandle
) -> None:
    victim = seeded.customers[3]

    class Race:
        """Someone creates customer ``victim.number`` in Rackbeat after the run read its list."""

        def begin(self, kind: str, total: int) -> None:
            with rackbeat_emulator.client() as http:
                http.post("customers", json={"number": victim.number, "company_name": "X"})

        def step(self, kind: str, outcome: str) -> None:
            pass

    report = run_initial_sync(runtime, kinds=["customers"], progress=Race())

    assert _summary(report) == {"customers": (49, 1, 0, 0, 0)}
    assert rackbeat_emulator.counters()["writes"]["customers"]["duplicates_refused"] == 1
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "customer", str(victim.id)))
    assert row is not None
    assert (row.status, row.number) == ("linked", str(victim.number))


def test_a_record_that_cannot_be_copied_fails_with_its_reason_and_the_rest_goes_on(
    runtime: Runtime,
    seeded: PoData,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    # A PowerOffice Go group whose code cannot be a Rackbeat group number, with one product.
    with poweroffice_emulator.client() as po:
        group = po.post("ProductGroups", json={"Code": "TOOLS", "Name": "Tools"}).json()
        product = po.post(
            "Products",
            json={"Code": "T-1", "Name": "Spade", "ProductGroupId": group["Id"], "UnitPrice": 10},
        ).json()

    report = run_initial_sync(runtime, kinds=["products"])
    again = run_initial_sync(runtime, kinds=["products"])

    assert report.summary["products"].failed == 1
    assert report.summary["products"].created == 100
    assert report.summary["product_groups"].failed == 1
    [event] = [e for e in report.events if e.kind == "products"]
    assert (event.source, event.outcome) == (str(product["Id"]), "failed")
    assert event.reason == (
        "product group TOOLS: poweroffice_product_group "
        f"{group['Id']}: field 'Code': 'TOOLS' cannot be a Rackbeat group number "
        "(a positive integer)"
    )
    assert not report.ok
    # Failed records are looked at again by the next run; the copied ones are done.
    assert _summary(again)["products"] == (0, 0, 0, 1, 100)
    with runtime.sessions() as session:
        row = session.get(InitialSyncItem, ("default", "product", str(product["Id"])))
    assert row is not None
    assert row.status == "failed"
    assert row.reason == event.reason


def test_parse_kinds_orders_and_checks_names() -> None:
    assert parse_kinds(None) == list(INITIAL_SYNC_KINDS)
    assert parse_kinds(["customers,unit", "products"]) == ["units", "products", "customers"]
    with pytest.raises(ValueError, match="unknown kind 'orders'; expected some of units"):
        parse_kinds(["orders"])


def test_kind_summary_counts() -> None:
    summary = KindSummary()
    for outcome in ("created", "created", "failed", "already"):
        summary.add(outcome)
    assert (summary.created, summary.failed, summary.already, summary.total) == (2, 1, 1, 4)


# --- production: PostgreSQL ledger, Redis locks, limiters and token cache -----------------------


def test_the_run_on_postgresql_with_redis(
    settings: Settings,
    postgres_url: str,
    redis_url: str,
    rackbeat_emulator: RackbeatEmulatorHandle,
    poweroffice_emulator: PowerOfficeEmulatorHandle,
) -> None:
    poweroffice_emulator.reset(seed=SEED, scale=SCALE)
    rackbeat_emulator.reset(empty=True)
    upgrade(postgres_url)
    pg = build_runtime(
        settings.model_copy(update={"database_url": postgres_url, "redis_url": redis_url})
    )
    try:
        first = run_initial_sync(pg, kinds=["suppliers", "customers"])
        held = pg.locks(LOCK_NAME, 60.0)
        assert held.acquire()
        try:
            with pytest.raises(InitialSyncBusyError):
                run_initial_sync(pg, kinds=["suppliers"])
        finally:
            held.release()
        second = run_initial_sync(pg, kinds=["suppliers", "customers"])
    finally:
        pg.close()

    assert _summary(first) == {
        "supplier_groups": (1, 0, 0, 0, 0),
        "suppliers": (10, 0, 0, 0, 0),
        "customers": (50, 0, 0, 0, 0),
    }
    assert _summary(second) == {"suppliers": (0, 0, 0, 0, 10), "customers": (0, 0, 0, 0, 50)}
    assert _writes(rackbeat_emulator) == {"supplier-groups": 1, "suppliers": 10, "customers": 50}
