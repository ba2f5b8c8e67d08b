"""The deterministic, seeded Rackbeat data generator.

``generate(seed=…, scale=…)`` builds a realistic Nordic Rackbeat account: product groups at
25/15/0 % VAT plus service groups, units (one of which, "palle", maps to nothing in PowerOffice
Go), products (``scale`` of them) including numbers with ``/``, spaces and ``+``, BOMs (lots)
with component lines, customers with and without an invoice e-mail and with country codes *and*
country names, suppliers with and without a VAT number at home and abroad, employees, payment
terms, orders and booked (and a few draft) customer invoices with notes, headings, references
and discount lines.

Records are compact plain dicts holding only stored fields; relations are numbers and
timestamps are integer epoch seconds. The emulator renders the wire shape (nested ``group``,
``unit``, ``customer`` objects, ISO datetimes, ``self`` links) when it answers.

Same seed and scale -> the same data, byte for byte. ``include_bad=True`` adds a few records that
must be refused downstream (an unknown country "Atlantis", a country code "XX").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

EPOCH = 1_735_689_600
"""2025-01-01T00:00:00Z: generated timestamps lie in the year before it, never "now"."""

YEAR = 365 * 24 * 3600

SPECIAL_PRODUCT_NUMBERS = ("AB/100", "KABEL 3M", "X+Y")
"""Item numbers that need double URL-encoding or ``urlfriendly_number`` (docs/api-facts.md,
Rackbeat 5)."""

SPECIAL_LOT_NUMBER = "PAKKE 1/2+"

# number, name, has_inventory, vat_domestic
PRODUCT_GROUPS: tuple[tuple[int, str, bool, int], ...] = (
    (1010, "Varer 25 %", True, 25),
    (1020, "Verktøy", True, 25),
    (1030, "Elektro", True, 25),
    (1040, "Rørlegger", True, 25),
    (1050, "Næringsmidler 15 %", True, 15),
    (1060, "Bøker og aviser 0 %", True, 0),
    (1070, "Eksport 0 %", True, 0),
    (2010, "Tjenester", False, 25),
    (2020, "Frakt", False, 25),
    (2030, "Kurs 0 %", False, 0),
)

# number, name. "palle" deliberately maps to no PowerOffice Go unit (R-PROD-6).
UNITS: tuple[tuple[int, str], ...] = (
    (1, "stk"),
    (2, "timer"),
    (3, "kg"),
    (4, "l"),
    (5, "m"),
    (6, "pk"),
    (7, "palle"),
)

# number, name, maturity_days
PAYMENT_TERMS: tuple[tuple[int, str, int], ...] = (
    (1, "Netto 8 dager", 8),
    (2, "Netto 10 dager", 10),
    (3, "Netto 14 dager", 14),
    (4, "Netto 30 dager", 30),
    (5, "Kontant", 0),
)

EMPLOYEES: tuple[tuple[int, str, str, str], ...] = (
    (1, "Kari Nordmann", "KN", "Salgssjef"),
    (2, "Ola Hansen", "OH", "Selger"),
    (3, "Ingrid Johansen", "IJ", "Innkjøper"),
    (4, "Lars Pedersen", "LP", "Lagersjef"),
    (5, "Sofie Larsen", "SL", "Kundeservice"),
)

SUPPLIER_GROUPS: tuple[tuple[int, str], ...] = ((1, "Innland"), (2, "Utland"))

_PRODUCT_WORDS_A = (
    "Skrue",
    "Mutter",
    "Skive",
    "Bolt",
    "Kabel",
    "Stikkontakt",
    "Bryter",
    "Rør",
    "Kobling",
    "Ventil",
    "Hammer",
    "Sag",
    "Drill",
    "Lampe",
    "Pære",
    "Tape",
    "Lim",
    "Maling",
    "Pensel",
    "Hanske",
)
_PRODUCT_WORDS_B = (
    "rustfri",
    "galvanisert",
    "hvit",
    "sort",
    "messing",
    "kobber",
    "PVC",
    "LED",
    "proff",
    "mini",
    "maxi",
    "eco",
)
_PRODUCT_SIZES = ("M4", "M6", "M8", "M10", "10 mm", "16 mm", '1/2"', '3/4"', "2,5 m", "5 m", "")
_SERVICE_NAMES = ("Montering", "Konsulenttime", "Frakt", "Service", "Kurs", "Reisetid")

_COMPANY_A = (
    "Nordic",
    "Fjord",
    "Vest",
    "Berg",
    "Nord",
    "Sol",
    "Havn",
    "Tind",
    "Skog",
    "Elv",
    "Øst",
    "Lys",
    "Stein",
    "Bre",
)
_COMPANY_B = (
    "Bygg",
    "Elektro",
    "Rør",
    "Handel",
    "Trading",
    "Maskin",
    "Data",
    "Design",
    "Transport",
    "Service",
    "Import",
    "Snekkeri",
)

_FIRST_NAMES = ("Anne", "Per", "Nina", "Jon", "Eva", "Erik", "Mette", "Nils", "Lena", "Tor")
_LAST_NAMES = ("Berg", "Dahl", "Lie", "Moen", "Holm", "Strand", "Lund", "Bakke", "Vik", "Aas")


@dataclass(frozen=True, slots=True)
class _Country:
    spellings: tuple[str, ...]  # what users type into address_country: codes AND names
    legal: str
    currency: str
    locale: str
    cities: tuple[tuple[str, str], ...]  # (zipcode, city)
    streets: tuple[str, ...]
    vat_kind: str
    dial: str


_COUNTRIES: dict[str, _Country] = {
    "NO": _Country(
        ("NO", "Norge", "no", "Norway", "NO"),
        "AS",
        "NOK",
        "nb",
        (("0150", "Oslo"), ("5003", "Bergen"), ("7010", "Trondheim"), ("4006", "Stavanger")),
        ("Storgata", "Kongens gate", "Strandveien", "Industriveien", "Fjordgata"),
        "NO",
        "+47",
    ),
    "DK": _Country(
        ("DK", "Danmark", "Denmark"),
        "ApS",
        "DKK",
        "da",
        (("2100", "København Ø"), ("8000", "Aarhus C"), ("5000", "Odense C")),
        ("Strandvejen", "Vesterbrogade", "Industrivej"),
        "DK",
        "+45",
    ),
    "SE": _Country(
        ("SE", "Sverige", "se", "Sweden"),
        "AB",
        "SEK",
        "sv",
        (("111 52", "Stockholm"), ("411 01", "Göteborg"), ("211 20", "Malmö")),
        ("Drottninggatan", "Storgatan", "Kungsgatan"),
        "SE",
        "+46",
    ),
    "DE": _Country(
        ("DE", "Deutschland", "Tyskland"),
        "GmbH",
        "EUR",
        "de",
        (("20095", "Hamburg"), ("10115", "Berlin")),
        ("Hauptstraße", "Bahnhofstraße"),
        "DE",
        "+49",
    ),
    "FI": _Country(
        ("FI", "Finland"),
        "Oy",
        "EUR",
        "fi",
        (("00100", "Helsinki"), ("33100", "Tampere")),
        ("Mannerheimintie", "Hämeenkatu"),
        "FI",
        "+358",
    ),
    "NL": _Country(
        ("NL", "Nederland"),
        "B.V.",
        "EUR",
        "nl",
        (("1012", "Amsterdam"),),
        ("Damrak",),
        "NL",
        "+31",
    ),
}

# Weighted so that most customers are Norwegian, as for a PowerOffice Go client.
_CUSTOMER_COUNTRY_WEIGHTS = (("NO", 70), ("DK", 10), ("SE", 10), ("DE", 4), ("FI", 3), ("NL", 3))
_SUPPLIER_COUNTRY_WEIGHTS = (("NO", 55), ("DK", 15), ("SE", 15), ("DE", 15))


@dataclass
class Dataset:
    """One generated Rackbeat account: compact records per resource, in number order."""

    seed: int
    scale: int
    units: list[Record] = field(default_factory=list)
    product_groups: list[Record] = field(default_factory=list)
    products: list[Record] = field(default_factory=list)
    lots: list[Record] = field(default_factory=list)
    payment_terms: list[Record] = field(default_factory=list)
    employees: list[Record] = field(default_factory=list)
    customers: list[Record] = field(default_factory=list)
    supplier_groups: list[Record] = field(default_factory=list)
    suppliers: list[Record] = field(default_factory=list)
    orders: list[Record] = field(default_factory=list)
    customer_invoices: list[Record] = field(default_factory=list)

    def by_resource(self) -> dict[str, list[Record]]:
        """The records keyed by their Rackbeat path segment (``product-groups``, …)."""
        return {
            "units": self.units,
            "product-groups": self.product_groups,
            "products": self.products,
            "lots": self.lots,
            "payment-terms": self.payment_terms,
            "employees": self.employees,
            "customers": self.customers,
            "supplier-groups": self.supplier_groups,
            "suppliers": self.suppliers,
            "orders": self.orders,
            "customer-invoices": self.customer_invoices,
        }


CHANGE_WINDOW = 90 * 24 * 3600
"""A record is last changed up to 90 days after its creation (and before EPOCH)."""


def _changed_after(created: int, offset: int) -> int:
    """``created + offset``, folded back below EPOCH: spread out like a real catalogue's
    changes. (Capping at EPOCH - 1 piled an eighth of the records onto one second, so every
    poll's overlap re-read them all.) The same random draw as before keeps the rest of the
    seeded data unchanged."""
    return created + offset % (EPOCH - created)


def _stamps(rng: random.Random) -> tuple[int, int]:
    created = EPOCH - YEAR + rng.randrange(YEAR - 3600)
    updated = _changed_after(created, rng.randrange(CHANGE_WINDOW))
    return created, updated


def _price(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    total = sum(weight for _, weight in table)
    pick = rng.randrange(total)
    for value, weight in table:
        if pick < weight:
            return value
        pick -= weight
    return table[-1][0]


def _norwegian_org_number(rng: random.Random) -> str:
    """A nine-digit organisation number with a valid MOD11 check digit."""
    weights = (3, 2, 7, 6, 5, 4, 3, 2)
    while True:
        digits = [rng.randrange(8, 10)] + [rng.randrange(10) for _ in range(7)]
        check = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _vat_number(rng: random.Random, kind: str) -> str:
    """A VAT number written the various ways people type them."""
    if kind == "NO":
        org = _norwegian_org_number(rng)
        styles = (org, f"NO{org}MVA", f"{org[:3]} {org[3:6]} {org[6:]}", f"NO {org} MVA")
        return styles[rng.randrange(len(styles))]
    if kind == "DK":
        return f"DK{rng.randrange(10_000_000, 99_999_999)}"
    if kind == "SE":
        return f"SE{rng.randrange(5_560_000_000, 5_599_999_999)}01"
    return f"{kind}{rng.randrange(100_000_000, 999_999_999)}"


def _company(rng: random.Random, country: _Country) -> str:
    return f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B)} {country.legal}"


def _slug(name: str) -> str:
    out = []
    for ch in name.lower():
        if ch.isalnum() and ch.isascii():
            out.append(ch)
        elif ch in "æøå":
            out.append({"æ": "ae", "ø": "o", "å": "a"}[ch])
    return "".join(out) or "firma"


def _address(rng: random.Random, code: str) -> Record:
    country = _COUNTRIES[code]
    zipcode, city = rng.choice(country.cities)
    return {
        "address_street": f"{rng.choice(country.streets)} {rng.randrange(1, 120)}",
        "address_street2": "",
        "address_zipcode": zipcode,
        "address_city": city,
        "address_country": rng.choice(country.spellings),
    }


def _generate_units(data: Dataset) -> None:
    for number, name in UNITS:
        data.units.append(
            {
                "number": number,
                "name": name,
                "is_draft": False,
                "created_at": EPOCH - YEAR,
                "updated_at": EPOCH - YEAR,
            }
        )


def _generate_groups(data: Dataset) -> None:
    for number, name, has_inventory, vat in PRODUCT_GROUPS:
        data.product_groups.append(
            {
                "number": number,
                "name": name,
                "has_inventory": has_inventory,
                "is_sellable": True,
                "vat_domestic": vat,
                "vat_eu": 0,
                "vat_abroad": 0,
                "vat_domestic_exempt": 0,
                "is_draft": False,
                "created_at": EPOCH - YEAR,
                "updated_at": EPOCH - YEAR,
            }
        )


def _product_number(index: int, special: dict[int, str]) -> str:
    return special.get(index) or f"{10000 + index}"


def _generate_products(rng: random.Random, data: Dataset) -> None:
    scale = data.scale
    goods = [g for g in PRODUCT_GROUPS if g[2]]
    services = [g for g in PRODUCT_GROUPS if not g[2]]
    # Spread the special numbers through the catalogue, deterministically.
    special = {
        (i * max(1, scale // len(SPECIAL_PRODUCT_NUMBERS))) % max(scale, 1): n
        for i, n in enumerate(SPECIAL_PRODUCT_NUMBERS)
    }
    if scale < len(SPECIAL_PRODUCT_NUMBERS):
        special = dict(enumerate(SPECIAL_PRODUCT_NUMBERS[:scale]))
    rand = rng.random
    randrange = rng.randrange
    choice = rng.choice
    products = data.products
    for index in range(scale):
        is_service = rand() < 0.08
        if is_service:
            group = choice(services)
            name = f"{choice(_SERVICE_NAMES)} {choice(_PRODUCT_WORDS_B)}"
            unit: int | None = 2 if group[0] != 2020 else 1
            sales = round(rand() * 1400 + 100, 2)
            cost = 0.0
        else:
            group = choice(goods)
            size = choice(_PRODUCT_SIZES)
            name = f"{choice(_PRODUCT_WORDS_A)} {choice(_PRODUCT_WORDS_B)}"
            if size:
                name = f"{name} {size}"
            roll = rand()
            # Most goods count in pieces; a few have no unit or the unmapped "palle".
            unit = (
                1
                if roll < 0.6
                else (randrange(3, 7) if roll < 0.9 else (7 if roll < 0.95 else None))
            )
            sales = round(rand() * 990 + 9.9, 2)
            cost = round(sales * (0.35 + rand() * 0.4), 2)
        created = EPOCH - YEAR + randrange(YEAR - 3600)
        number = _product_number(index, special)
        products.append(
            {
                "number": number,
                "name": name,
                "description": f"{name}, art. {number}" if rand() < 0.7 else "",
                "barcode": f"57{randrange(10**10, 10**11)}" if not is_service else "",
                "group": group[0],
                "unit": unit,
                "sales_price": sales,
                "recommended_cost_price": cost,
                "cost_price": cost,
                "stock_quantity": 0 if is_service else randrange(0, 500),
                "inventory_enabled": group[2],
                "is_barred": rand() < 0.02,
                "created_at": created,
                "updated_at": _changed_after(created, randrange(CHANGE_WINDOW)),
            }
        )


def _generate_lots(rng: random.Random, data: Dataset) -> None:
    count = max(2, data.scale // 25)
    products = data.products
    line_id = 1
    for index in range(count):
        number = SPECIAL_LOT_NUMBER if index == 1 else f"BOM-{1000 + index}"
        lines = []
        for _ in range(rng.randrange(2, 5) if products else 0):
            component = products[rng.randrange(len(products))]
            lines.append((line_id, component["number"], rng.randrange(1, 10)))
            line_id += 1
        created, updated = _stamps(rng)
        name = f"Pakke {rng.choice(_PRODUCT_WORDS_A).lower()} {rng.choice(_PRODUCT_WORDS_B)}"
        data.lots.append(
            {
                "number": number,
                "name": name,
                "description": f"Byggesett med {len(lines)} komponenter",
                "barcode": "",
                "group": 1010,
                "unit": 1,
                "sales_price": _price(rng, 199, 4999),
                "recommended_cost_price": _price(rng, 80, 1999),
                "cost_price": 0.0,
                "stock_quantity": rng.randrange(0, 40),
                "inventory_enabled": True,
                "is_barred": False,
                "lines": lines,
                "created_at": created,
                "updated_at": updated,
            }
        )


def _generate_reference_data(data: Dataset) -> None:
    for number, name, days in PAYMENT_TERMS:
        data.payment_terms.append(
            {
                "number": number,
                "name": name,
                "description": f"Forfall {days} dager" if days else "Betales ved levering",
                "maturity_days": days,
                "type": "net",
                "type_translated": "Netto",
                "created_at": EPOCH - YEAR,
                "updated_at": EPOCH - YEAR,
            }
        )
    for number, name, initials, title in EMPLOYEES:
        first = name.split()[0].lower()
        data.employees.append(
            {
                "number": number,
                "name": name,
                "initials": initials,
                "contact_email": f"{first}@lagerhuset.no",
                "contact_phone": f"+47 9{number:03d} 1{number:03d}",
                "locale": "nb",
                "job_title": title,
                "default_location_id": 1,
                "created_at": EPOCH - YEAR,
                "updated_at": EPOCH - YEAR,
            }
        )
    for number, name in SUPPLIER_GROUPS:
        data.supplier_groups.append(
            {"number": number, "name": name, "created_at": EPOCH - YEAR, "updated_at": EPOCH - YEAR}
        )


def _contacts(rng: random.Random, domain: str, dial: str, invoice_contact: bool) -> list[Record]:
    contacts = []
    for index in range(rng.randrange(0, 3) + (1 if invoice_contact else 0)):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        is_invoice = invoice_contact and index == 0
        contacts.append(
            {
                "number": index + 1,
                "name": f"{first} {last}",
                "role": "Regnskap" if is_invoice else rng.choice(("Innkjøp", "Daglig leder")),
                "initials": f"{first[0]}{last[0]}",
                "contact_email": f"{first.lower()}.{last.lower()}@{domain}",
                "contact_phone": f"{dial} 4{rng.randrange(1000000, 9999999)}",
                "cc_order": not is_invoice,
                "cc_offer": False,
                "cc_invoice": is_invoice,
                "cc_delivery_note": False,
            }
        )
    return contacts


# The first customers cover every way of writing a country, so even a handful of records
# has ISO codes (upper and lower case) and names in several languages.
_COUNTRY_COVERAGE = (
    ("NO", "NO"),
    ("NO", "Norge"),
    ("DK", "Danmark"),
    ("SE", "Sverige"),
    ("NO", "no"),
    ("SE", "se"),
    ("DE", "Deutschland"),
    ("FI", "FI"),
)


def _generate_customers(rng: random.Random, data: Dataset, include_bad: bool) -> None:
    count = max(len(_COUNTRY_COVERAGE), data.scale // 10)
    for index in range(count):
        spelling = None
        if index < len(_COUNTRY_COVERAGE):
            code, spelling = _COUNTRY_COVERAGE[index]
        else:
            code = _weighted(rng, _CUSTOMER_COUNTRY_WEIGHTS)
        country = _COUNTRIES[code]
        name = _company(rng, country)
        domain = f"{_slug(name)}.{code.lower()}"
        roll = rng.random()
        # Two in five have a dedicated invoice e-mail (R-CUST-6/7), one in ten only a contact
        # with cc_invoice, the rest neither.
        invoice_email = f"faktura@{domain}" if roll < 0.4 else ""
        created, updated = _stamps(rng)
        record: Record = {
            "number": 10001 + index,
            "company_name": name,
            "company_vat": _vat_number(rng, country.vat_kind) if rng.random() < 0.85 else "",
            "ean": f"57900{rng.randrange(10**7, 10**8)}" if rng.random() < 0.1 else "",
            **_address(rng, code),
            "contact_email": f"post@{domain}",
            "contact_phone": f"{country.dial} {rng.randrange(20000000, 99999999)}",
            "invoice_email": invoice_email,
            "locale": country.locale,
            "currency": country.currency,
            "vat_zone": "domestic" if code == "NO" else "abroad",
            "general_discount_percentage": rng.choice((0.0, 0.0, 0.0, 2.5, 5.0, 10.0)),
            "payment_terms": rng.randrange(1, len(PAYMENT_TERMS) + 1),
            "employee": rng.randrange(1, len(EMPLOYEES) + 1),
            "is_barred": False,
            "contacts": _contacts(rng, domain, country.dial, 0.4 <= roll < 0.5),
            "created_at": created,
            "updated_at": updated,
        }
        if spelling is not None:
            record["address_country"] = spelling
        data.customers.append(record)
    # One customer without zip and city: sent without MailAddress and a warning (R-CUST-3).
    data.customers[min(3, count - 1)].update(address_zipcode="", address_city="")
    if include_bad:
        for offset, country_value in enumerate(("Atlantis", "XX")):
            created, updated = _stamps(rng)
            data.customers.append(
                {
                    **data.customers[offset],
                    "number": 10001 + count + offset,
                    "company_name": f"Feil Land {offset + 1} AS",
                    "address_country": country_value,
                    "contacts": [],
                    "created_at": created,
                    "updated_at": updated,
                }
            )


def _generate_suppliers(rng: random.Random, data: Dataset) -> None:
    count = max(5, data.scale // 50)
    for index in range(count):
        code = _weighted(rng, _SUPPLIER_COUNTRY_WEIGHTS)
        country = _COUNTRIES[code]
        name = _company(rng, country)
        created, updated = _stamps(rng)
        # One in five has no VAT number: normal data, skipped by the sync (R-SUP-10).
        has_vat = index != 1 and (index == 0 or rng.random() >= 0.2)
        data.suppliers.append(
            {
                "number": 20001 + index,
                "company_name": name,
                "company_vat": _vat_number(rng, country.vat_kind) if has_vat else "",
                **_address(rng, code),
                "contact_email": f"salg@{_slug(name)}.{code.lower()}",
                "contact_phone": f"{country.dial} {rng.randrange(10**7, 10**8)}",
                "locale": country.locale,
                "currency": country.currency,
                "vat_zone": "domestic" if code == "NO" else "abroad",
                "payment_terms": rng.choice((3, 3, 4, 2)),
                "supplier_group": 1 if code == "NO" else 2,
                "is_deleted": False,
                "created_at": created,
                "updated_at": updated,
            }
        )


def _sales_lines(rng: random.Random, data: Dataset, first_id: int) -> list[Record]:
    lines = []
    for offset in range(rng.randrange(1, 5)):
        product = data.products[rng.randrange(len(data.products))]
        group_vat = _GROUP_VAT[product["group"]]
        lines.append(
            {
                "id": first_id + offset,
                "item": product["number"],
                "name": product["name"],
                "quantity": rng.randrange(1, 20),
                "line_price": product["sales_price"],
                # Every fourth line carries a discount (R-INV-10 "discount %").
                "discount_percentage": rng.choice((5.0, 10.0, 15.0))
                if rng.random() < 0.25
                else 0.0,
                "vat_percentage": group_vat,
            }
        )
    return lines


_GROUP_VAT = {number: vat for number, _, _, vat in PRODUCT_GROUPS}

_HEADINGS = ("Bestilling", "Ordre fra nettbutikk", "Serviceoppdrag", "Rammeavtale", "")
_NOTES = ("Takk for handelen!", "Levering på baksiden.", "Ring før levering.", "", "")


def _generate_sales(rng: random.Random, data: Dataset) -> None:
    if not data.products or not data.customers:
        return
    line_id = 1
    customers = [c for c in data.customers if c["address_country"] not in ("Atlantis", "XX")]
    for index in range(max(4, data.scale // 10)):
        customer = customers[rng.randrange(len(customers))]
        lines = _sales_lines(rng, data, line_id)
        line_id += len(lines)
        created, updated = _stamps(rng)
        booked = rng.random() < 0.9
        data.orders.append(
            {
                "number": 5001 + index,
                "customer": customer["number"],
                "heading": f"{rng.choice(_HEADINGS)} {5001 + index}".strip(),
                "note": rng.choice(_NOTES),
                "currency": customer["currency"],
                "our_reference": rng.randrange(1, len(EMPLOYEES) + 1),
                "their_reference": rng.choice(_FIRST_NAMES) + " " + rng.choice(_LAST_NAMES),
                "is_booked": booked,
                "is_invoiced": False,
                "booked_at": created if booked else None,
                "lines": lines,
                "created_at": created,
                "updated_at": updated,
            }
        )
    orders = data.orders
    for index in range(max(6, data.scale // 8)):
        # Half the invoices come from an order (R-INV-9 contract number), half stand alone.
        order = orders[index] if index < len(orders) and index % 2 == 0 else None
        if order is not None:
            order["is_invoiced"] = True
            customer_number = order["customer"]
            lines = [dict(line, id=line_id + n) for n, line in enumerate(order["lines"])]
            currency = order["currency"]
        else:
            customer = customers[rng.randrange(len(customers))]
            customer_number = customer["number"]
            lines = _sales_lines(rng, data, line_id)
            currency = customer["currency"]
        line_id += len(lines)
        created, updated = _stamps(rng)
        # One invoice in every ten is an unbooked draft: it must never be transferred.
        booked = index % 10 != 4
        data.customer_invoices.append(
            {
                "number": 30001 + index,
                "customer": customer_number,
                "order": order["number"] if order is not None else None,
                "heading": rng.choice(_HEADINGS),
                "note": rng.choice(_NOTES),
                "currency": currency,
                "currency_rate": 100,
                "our_reference": rng.randrange(1, len(EMPLOYEES) + 1),
                "their_reference": rng.choice(("", rng.choice(_FIRST_NAMES))),
                "is_booked": booked,
                "booked_at": created if booked else None,
                "is_paid": booked and rng.random() < 0.5,
                "invoice_date": created,
                "payment_days": rng.choice((8, 10, 14, 30)),
                "lines": lines,
                "created_at": created,
                "updated_at": updated,
            }
        )


def generate(*, seed: int = 1, scale: int = 50, include_bad: bool = False) -> Dataset:
    """Build a Rackbeat account with ``scale`` products; the same arguments give the same data."""
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    rng = random.Random(seed)
    data = Dataset(seed=seed, scale=scale)
    _generate_units(data)
    _generate_groups(data)
    _generate_reference_data(data)
    _generate_products(rng, data)
    _generate_lots(rng, data)
    _generate_customers(rng, data, include_bad)
    _generate_suppliers(rng, data)
    _generate_sales(rng, data)
    return data


__all__ = [
    "EMPLOYEES",
    "EPOCH",
    "PAYMENT_TERMS",
    "PRODUCT_GROUPS",
    "SPECIAL_LOT_NUMBER",
    "SPECIAL_PRODUCT_NUMBERS",
    "SUPPLIER_GROUPS",
    "UNITS",
    "Dataset",
    "Record",
    "generate",
]
