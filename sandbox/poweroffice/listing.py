"""List endpoints: the filters each resource accepts, paging, ``Fields`` and ``OrderBy``.

Query parameter names match case-insensitively (ASP.NET binding); unknown parameters are
ignored, as the real service ignores them. A filter named in the ``ignored_filters`` knob
(``"Customers.externalImportReference"``) is ignored too, to imitate a deployment that drops
it: a client must still check what it got back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.poweroffice.schema import canonical_name, field_error
from sandbox.poweroffice.state import RESOURCES, parse_after
from sandbox.poweroffice.store import Record, Table, index_key

__all__ = ["DEFAULT_PAGE_SIZE", "FILTERS", "MAX_PAGE_SIZE", "Filter", "Page", "list_records"]

DEFAULT_PAGE_SIZE = 5000
MAX_PAGE_SIZE = 20000


@dataclass(frozen=True, slots=True)
class Filter:
    """One query filter: its parameter name, the field it reads and how it matches."""

    param: str
    field: str
    kind: str  # "in" (comma list), "ranges", "bool", "enum", "after", "eq", "contains", "mine"


_CHANGED = Filter("lastChangedDateTimeOffsetGreaterThan", "LastChangedDateTimeOffset", "after")

FILTERS: dict[str, tuple[Filter, ...]] = {
    "Products": (
        Filter("codes", "Code", "in"),
        Filter("names", "Name", "in"),
        Filter("productGroupCodes", "ProductGroupCode", "in"),
        Filter("type", "ProductType", "enum"),
        Filter("isArchived", "IsArchived", "bool"),
        Filter("createdDateTimeOffsetGreaterThan", "CreatedDateTimeOffset", "after"),
        _CHANGED,
        Filter(
            "stockOnHandLastChangedDatetimeOffsetGreaterThan",
            "StockOnHandLastChangedDatetimeOffset",
            "after",
        ),
    ),
    "ProductGroups": (
        Filter("codes", "Code", "in"),
        Filter("names", "Name", "in"),
        Filter("isArchived", "IsArchived", "bool"),
        Filter("type", "ProductType", "enum"),
        Filter("createdDateTimeOffsetGreaterThan", "CreatedDateTimeOffset", "after"),
        _CHANGED,
    ),
    "Customers": (
        Filter("customerNos", "Number", "ranges"),
        Filter("externalNos", "ExternalNumber", "ranges"),
        Filter("externalImportReference", "ExternalImportReference", "eq"),
        Filter("contactGroupIds", "ContactGroupIds", "contains"),
        Filter(
            "customerCreatedDateTimeOffsetGreaterThan", "CustomerCreatedDateTimeOffset", "after"
        ),
        _CHANGED,
    ),
    "Suppliers": (
        Filter("supplierNos", "Number", "ranges"),
        Filter("externalNos", "ExternalNumber", "ranges"),
        Filter("externalImportReference", "ExternalImportReference", "eq"),
        Filter("contactGroupIds", "ContactGroupIds", "contains"),
        Filter(
            "supplierCreatedDateTimeOffsetGreaterThan", "SupplierCreatedDateTimeOffset", "after"
        ),
        _CHANGED,
    ),
    "SalesOrders": (
        Filter("customerNos", "CustomerNo", "ranges"),
        Filter("orderStatus", "SalesOrderStatus", "enum"),
        Filter("onlyCreatedByCurrentIntegration", "IsCreatedByCurrentIntegration", "mine"),
        Filter("projectCodes", "ProjectCode", "in"),
        Filter("departmentCodes", "DepartmentCode", "in"),
        _CHANGED,
    ),
    "GeneralLedgerAccounts": (Filter("accountNos", "AccountNo", "ranges"), _CHANGED),
    "ContactGroups": (_CHANGED,),
    "PaymentTerms": (),
    "VatCodes": (),
}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, already projected to the requested fields."""

    items: list[dict[str, Any]]


def _ranges(value: str, name: str) -> list[tuple[int | None, int | None]]:
    """``"10000-11000, 12000, 13000-"`` as inclusive (low, high) pairs."""
    ranges: list[tuple[int | None, int | None]] = []
    for chunk in value.split(","):
        part = chunk.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                low_text, high_text = part.split("-", 1) if part[0] != "-" else ("", part[1:])
                low = int(low_text) if low_text.strip() else None
                high = int(high_text) if high_text.strip() else None
                ranges.append((low, high))
            else:
                number = int(part)
                ranges.append((number, number))
        except ValueError:
            raise field_error(name, f"'{value}' is not a list of numbers or ranges.") from None
    return ranges


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise field_error(name, f"The value '{value}' is not valid for Boolean.")
    return lowered == "true"


def _predicate(  # noqa: PLR0911
    flt: Filter, raw: str
) -> tuple[Callable[[Record], bool], list[Any] | None]:
    """A record test for one filter, and the exact values when an index can serve it."""
    field = flt.field
    if flt.kind == "in":
        values = [v.strip() for v in raw.split(",") if v.strip()]
        keys = {index_key(v) for v in values}
        return (lambda r: index_key(r.get(field)) in keys), values
    if flt.kind == "eq":
        key = index_key(raw)
        return (lambda r: index_key(r.get(field)) == key), [raw]
    if flt.kind == "ranges":
        ranges = _ranges(raw, flt.param)
        exact = [low for low, high in ranges if low is not None and low == high]

        def in_ranges(record: Record) -> bool:
            number = record.get(field)
            if number is None:
                return False
            return any(
                (low is None or number >= low) and (high is None or number <= high)
                for low, high in ranges
            )

        return in_ranges, exact if len(exact) == len(ranges) else None
    if flt.kind == "bool":
        wanted = _bool(raw, flt.param)
        return (lambda r: bool(r.get(field)) == wanted), None
    if flt.kind == "mine":
        only_mine = _bool(raw, flt.param)
        return (lambda r: bool(r.get(field)) or not only_mine), None
    if flt.kind == "enum":
        wanted_text = raw.strip().lower()
        return (lambda r: str(r.get(field) or "").lower() == wanted_text), None
    if flt.kind == "after":
        stamp = parse_after(raw, flt.param)
        return (lambda r: r.get(field) is not None and r[field] > stamp), None
    if flt.kind == "contains":
        ids = {int(v) for v in raw.split(",") if v.strip().lstrip("-").isdigit()}
        return (lambda r: bool(ids.intersection(r.get(field) or ()))), None
    raise AssertionError(f"unknown filter kind {flt.kind!r}")  # pragma: no cover


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name.lower())
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise field_error(name, f"The value '{raw}' is not valid for {name}.") from None


def list_records(
    resource: str,
    table: Table,
    query: Mapping[str, str],
    *,
    ignored: Iterable[str] = (),
    project: Callable[[Record], Record] | None = None,
) -> Page:
    """Filter, order, page and project a resource's visible records.

    ``query`` has lowercased parameter names. ``project`` turns a stored record into the list
    DTO (sales orders drop their lines).
    """
    dto = RESOURCES[resource].dto
    skip = {name.lower() for name in ignored}
    tests: list[Callable[[Record], bool]] = []
    indexed: tuple[str, list[Any]] | None = None
    for flt in FILTERS[resource]:
        raw = query.get(flt.param.lower())
        if raw is None or f"{resource}.{flt.param}".lower() in skip:
            continue
        test, exact = _predicate(flt, raw)
        tests.append(test)
        if indexed is None and exact is not None and flt.field in RESOURCES[resource].indexed:
            indexed = (flt.field, exact)
    page_number = _int_param(query, "PageNumber", 1)
    page_size = _int_param(query, "PageSize", DEFAULT_PAGE_SIZE)
    if page_number < 1:
        raise field_error("PageNumber", "PageNumber must be 1 or more.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise field_error("PageSize", f"PageSize must be between 1 and {MAX_PAGE_SIZE}.")
    fields = _fields(dto, query.get("fields"))
    order = _order(dto, query.get("orderby"))

    source: Iterable[Record] = (
        table.visible_by(indexed[0], indexed[1]) if indexed else table.visible_all()
    )
    matched = [r for r in source if all(test(r) for test in tests)] if tests else list(source)
    for name, descending in reversed(order):
        matched.sort(key=_by(name), reverse=descending)
    start = (page_number - 1) * page_size
    chosen = matched[start : start + page_size]
    items = []
    for record in chosen:
        shaped = project(record) if project else record
        items.append({k: shaped[k] for k in fields if k in shaped} if fields else shaped)
    return Page(items)


def _fields(dto: str, raw: str | None) -> list[str] | None:
    if not raw:
        return None
    names = []
    for part in raw.split(","):
        if not part.strip():
            continue
        name = canonical_name(dto, part.strip())
        if name is None:
            raise field_error("Fields", f"'{part.strip()}' is not a field of {dto}.")
        names.append(name)
    return names


def _order(dto: str, raw: str | None) -> list[tuple[str, bool]]:
    if not raw:
        return []
    order = []
    for part in raw.split(","):
        words = part.split()
        if not words:
            continue
        name = canonical_name(dto, words[0])
        direction = words[1].lower() if len(words) > 1 else "asc"
        if name is None or direction not in ("asc", "desc") or len(words) > 2:
            raise field_error("OrderBy", f"'{part.strip()}' is not a valid OrderBy for {dto}.")
        order.append((name, direction == "desc"))
    return order


def _by(name: str) -> Callable[[Record], tuple[int, Any]]:
    def key(record: Record) -> tuple[int, Any]:
        return _sort_key(record.get(name))

    return key


def _sort_key(value: Any) -> tuple[int, Any]:
    # None sorts first (SQL Server's NULL ordering); mixed types never meet in one field.
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, list | dict):
        return (1, str(value))
    return (1, value)
