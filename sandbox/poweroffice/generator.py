"""Deterministic, Nordic-looking PowerOffice Go data for the initial sync (R-INIT-1..4).

``generate(seed, scale)`` returns plain post-shaped dicts (product groups, products, suppliers,
customers, contact groups); the backend stores them as if a bookkeeper had typed them in
before the integration was installed. The same ``(seed, scale)`` gives the same data.

Sizes: ``scale`` products x100, customers x50, suppliers x10, product groups ``4 + scale``
(capped at 60). ``scale=0`` gives nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GeneratedData", "generate"]

_GROUPS = (
    ("Handelsvarer", "Product", 3000),
    ("Verktøy", "Product", 3000),
    ("Matvarer", "Product", 3030),
    ("Tjenester", "Service", 3000),
    ("Byggevarer", "Product", 3000),
    ("Elektro", "Product", 3000),
    ("Maling og lakk", "Product", 3000),
    ("Eksport", "Product", 3100),
    ("Rørleggerartikler", "Product", 3000),
    ("Kontorrekvisita", "Product", 3000),
)
_NOUNS = (
    ("Skrue", "EA"),
    ("Mutter", "EA"),
    ("Hammer", "EA"),
    ("Håndsag", "EA"),
    ("Maling", "LTR"),
    ("Pensel", "EA"),
    ("Kabel", "MTR"),
    ("Lampe", "EA"),
    ("Bolt", "XPK"),
    ("Skive", "XPK"),
    ("Gipsplate", "EA"),
    ("Lim", "EA"),
    ("Tape", "XRO"),
    ("Kaffe", "KGM"),
    ("Knekkebrød", "XPK"),
    ("Vernehansker", "PR"),
    ("Borsett", "SET"),
    ("Plank", "MTR"),
    ("Sparkel", "LTR"),
    ("Stikkontakt", "EA"),
    ("Rørkobling", "EA"),
    ("Kopipapir", "BX"),
    ("Sement", "KGM"),
)
_ADJECTIVES = ("Galvanisert", "Rustfri", "Hvit", "Sort", "Proff", "Eco", "Kraftig", "Mini", "XL")
_SERVICES = ("Montering", "Konsulenttime", "Frakt", "Service", "Opplæring", "Prosjektledelse")
_COMPANY_STEMS = (
    "Nordlys",
    "Fjord",
    "Vestland",
    "Polar",
    "Midnattsol",
    "Trollheim",
    "Viken",
    "Bryggen",
    "Lofoten",
    "Saga",
    "Norrsken",
    "Svea",
    "Øresund",
    "Jylland",
    "Aurora",
    "Fjell",
    "Havbris",
    "Skog",
    "Bjørk",
    "Granitt",
    "Eik",
    "Elv",
    "Kyst",
    "Dal",
)
_COMPANY_TRADES = (
    "Bygg",
    "Handel",
    "Elektro",
    "Rør",
    "Transport",
    "Regnskap",
    "Snekkeri",
    "Maskin",
    "Mat",
    "Interiør",
    "Data",
)
_FORMS = {"NO": "AS", "SE": "AB", "DK": "ApS", "FI": "Oy"}
_PLACES = {
    "NO": (
        ("Karl Johans gate", "0154", "Oslo"),
        ("Bryggen", "5003", "Bergen"),
        ("Munkegata", "7011", "Trondheim"),
        ("Kirkegata", "4006", "Stavanger"),
        ("Storgata", "9008", "Tromsø"),
        ("Dronningens gate", "8006", "Bodø"),
    ),
    "SE": (("Drottninggatan", "111 51", "Stockholm"), ("Avenyn", "411 36", "Göteborg")),
    "DK": (("Strøget", "1160", "København K"), ("Søndergade", "8000", "Aarhus C")),
    "FI": (("Mannerheimintie", "00100", "Helsinki"),),
}
_FIRST = ("Kari", "Ola", "Ingrid", "Lars", "Sigrid", "Anders", "Astrid", "Nils", "Liv", "Erik")
_LAST = ("Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Berg", "Haugen", "Lie", "Dahl")
_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_CURRENCY = {"NO": "NOK", "SE": "SEK", "DK": "DKK", "FI": "EUR"}


@dataclass
class GeneratedData:
    """Post-shaped records, in the order they must be created."""

    contact_groups: list[dict[str, Any]] = field(default_factory=list)
    product_groups: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    suppliers: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)


def _org_number(rng: random.Random) -> str:
    """A Norwegian organisation number with a valid mod-11 check digit."""
    while True:
        digits = [rng.choice((8, 9))] + [rng.randrange(10) for _ in range(7)]
        remainder = sum(d * w for d, w in zip(digits, _ORG_WEIGHTS, strict=True)) % 11
        check = (11 - remainder) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _phone(rng: random.Random) -> str:
    return f"+47 {rng.randint(400, 999)} {rng.randint(10, 99)} {rng.randint(100, 999)}"


def _country(rng: random.Random) -> str:
    return rng.choices(("NO", "SE", "DK", "FI"), weights=(80, 9, 8, 3))[0]


def _address(rng: random.Random, country: str) -> dict[str, Any]:
    street, zip_code, city = rng.choice(_PLACES[country])
    return {
        "AddressLine1": f"{street} {rng.randint(1, 120)}",
        "ZipCode": zip_code,
        "City": city,
        "CountryCode": country,
    }


def _company(rng: random.Random, country: str, used: set[str]) -> str:
    for _ in range(50):
        name = f"{rng.choice(_COMPANY_STEMS)} {rng.choice(_COMPANY_TRADES)} {_FORMS[country]}"
        if name not in used:
            used.add(name)
            return name
    name = (
        f"{rng.choice(_COMPANY_STEMS)} {rng.choice(_COMPANY_TRADES)} {len(used)} {_FORMS[country]}"
    )
    used.add(name)
    return name


def _slug(name: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", " ": "", "&": ""})
    return name.lower().translate(table)[:20]


def generate(seed: int, scale: int) -> GeneratedData:
    """The data set for ``(seed, scale)``."""
    rng = random.Random(seed)
    data = GeneratedData()
    if scale <= 0:
        return data
    data.contact_groups.append({"Name": "Grossister"})
    group_count = min(4 + scale, 60)
    groups = []
    for n in range(group_count):
        name, kind, account = _GROUPS[n % len(_GROUPS)]
        label = name if n < len(_GROUPS) else f"{name} {n // len(_GROUPS) + 1}"
        group = {
            "Code": str(10 * (n + 1)),
            "Name": label,
            "ProductType": kind,
            "UnitOfMeasureCode": "HUR" if kind == "Service" else "EA",
            "StandardSalesAccount": account,
            "OptionalSalesAccount": 3100,
        }
        groups.append(group)
    data.product_groups = groups
    for n in range(100 * scale):
        group = rng.choice(groups)
        if group["ProductType"] == "Service":
            name = f"{rng.choice(_SERVICES)} {rng.choice(('standard', 'ekspress', 'helg'))}"
            unit = "HUR"
        else:
            noun, unit = rng.choice(_NOUNS)
            name = f"{rng.choice(_ADJECTIVES)} {noun.lower()} {rng.randint(2, 120)}"
        cost = round(rng.uniform(5, 2000), 2)
        data.products.append(
            {
                "Code": f"PO-{n + 1:05d}",
                "Name": name.capitalize(),
                "Description": f"{name.capitalize()}, art. {n + 1}",
                "ProductGroupCode": group["Code"],
                "ProductType": group["ProductType"],
                "UnitOfMeasureCode": unit,
                "UnitCost": cost,
                "UnitPrice": round(cost * rng.uniform(1.2, 2.2), 2),
                "Gtin": f"70{rng.randrange(10**10, 10**11)}",
                "IsStockItem": group["ProductType"] == "Product",
                "StockOnHand": float(rng.randint(0, 500))
                if group["ProductType"] == "Product"
                else None,
            }
        )
    used: set[str] = set()
    for n in range(10 * scale):
        country = _country(rng)
        name = _company(rng, country, used)
        data.suppliers.append(
            {
                "Name": name,
                "Number": 20001 + n,
                "OrganizationNumber": _org_number(rng) if country == "NO" else None,
                "EmailAddress": f"ordre@{_slug(name)}.{country.lower()}",
                "PhoneNumber": _phone(rng),
                "CurrencyCode": _CURRENCY[country],
                "MailAddress": _address(rng, country),
                "ContactGroupIds": None,
            }
        )
    for n in range(50 * scale):
        country = _country(rng)
        person = rng.random() < 0.15
        record: dict[str, Any] = {
            "Number": 10001 + n,
            "IsPerson": person,
            "MailAddress": _address(rng, country),
            "PhoneNumber": _phone(rng),
            "CurrencyCode": _CURRENCY[country],
            "PaymentTerm": rng.choice((10, 14, 14, 30)),
            "Allowance": rng.choice((0.0, 0.0, 0.0, 5.0, 10.0)),
        }
        if person:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            record.update(
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}",
                EmailAddress=f"{_slug(first)}.{_slug(last)}{n}@epost.no",
                InvoiceDeliveryType="PdfByEmail",
            )
        else:
            name = _company(rng, country, used)
            email = f"faktura@{_slug(name)}.{country.lower()}"
            record.update(
                Name=name,
                OrganizationNumber=_org_number(rng) if country == "NO" else None,
                EmailAddress=f"post@{_slug(name)}.{country.lower()}",
                InvoiceEmailAddress=email if rng.random() < 0.7 else None,
            )
            record["InvoiceDeliveryType"] = (
                "PdfByEmail" if record["InvoiceEmailAddress"] else "Print"
            )
        data.customers.append(record)
    return data
