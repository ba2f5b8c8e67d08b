"""The configurable tables and the project's choices, each in ONE place.

Every table here is a default: the mapping functions take it as a keyword argument, so a
deployment can pass its own (e.g. a client whose 15 % sales account is not 3030).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from clients.models import UnitOfMeasureCode

__all__ = [
    "COPY_ARCHIVED",
    "DEFAULT_SUPPLIER_PAYMENT_DAYS",
    "DEFAULT_VAT_RATE",
    "DOMESTIC_COUNTRY",
    "INITIAL_SUPPLIER_GROUP_NAME",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "OPTIONAL_SALES_ACCOUNT",
    "SALES_ACCOUNTS",
    "SUPPLIER_CONTACT_GROUP_NAME",
    "UNIT_ENGLISH_NAMES",
    "UNIT_TABLE",
    "normalise_unit_name",
]

U = UnitOfMeasureCode


def normalise_unit_name(name: str) -> str:
    """The form unit names are looked up in: trimmed, case-folded, inner spaces collapsed."""
    return " ".join(name.split()).casefold()


SALES_ACCOUNTS: Final[Mapping[float, int]] = MappingProxyType({25.0: 3000, 15.0: 3030, 0.0: 3100})
"""R-PROD-9: domestic VAT percent of the product group -> standard sales account number."""

OPTIONAL_SALES_ACCOUNT: Final = 3100
"""R-PROD-10: the alternative (VAT-exempt) sales account of every created product group."""

DEFAULT_VAT_RATE: Final = 25.0
"""The VAT percent assumed for a product group whose ``vat_domestic`` is not given
(Norway's standard rate; the group is then created on the 25 % account)."""

DEFAULT_SUPPLIER_PAYMENT_DAYS: Final = 14
"""R-SUP-4: supplier payment terms when Rackbeat has none."""

SUPPLIER_CONTACT_GROUP_NAME: Final = "PowerOffice"
"""R-SUP-9: the PowerOffice Go contact group suppliers are put in."""

INITIAL_SUPPLIER_GROUP_NAME: Final = "Poweroffice"
"""R-INIT-3: the Rackbeat supplier group the initial sync creates (the article's spelling)."""

COPY_ARCHIVED: Final = False
"""R-INIT-1..4: whether the initial sync copies archived PowerOffice Go records too (they are
skipped, with the reason)."""

DOMESTIC_COUNTRY: Final = "NO"
"""R-SUP-8: the country whose suppliers are "Domestic"; PowerOffice Go's default country."""

MAX_TEXT_LENGTH: Final = 400
"""One-line text PowerOffice Go documents no limit for (customer and supplier names, phone
numbers, the invoice's references): longer rejects the record naming the field, since a cut
name, number or reference names something else. 400 is PowerOffice Go's own limit for product,
product-group and contact-group names; a longer value is a data error, not a name."""

MAX_DESCRIPTION_LENGTH: Final = 4000
"""Free text PowerOffice Go documents no limit for (product descriptions, the invoice note and
line descriptions): longer is cut, ending in "…", with a ``truncated_text`` warning. Cutting
a description changes nothing that identifies the record, and 4000 characters is far more
than a sales order line shows."""

UNIT_ENGLISH_NAMES: Final[Mapping[UnitOfMeasureCode, str]] = MappingProxyType(
    {
        U.BX: "Box",
        U.MTR: "Meter",
        U.KMT: "Kilometer",
        U.KGM: "Kilogram",
        U.EA: "Each",
        U.LTR: "Liter",
        U.HUR: "Hour",
        U.DAY: "Day",
        U.MTK: "Square meter",
        U.MTQ: "Cubic meter",
        U.TNE: "Metric ton",
        U.MON: "Month",
        U.ANN: "Year",
        U.QAN: "Quarter of a year",
        U.NL: "Load",
        U.XRO: "Roll",
        U.XBA: "Barrel",
        U.XPL: "Pail",
        U.XPC: "Parcel",
        U.PR: "Pair",
        U.XCI: "Canister",
        U.XBG: "Bag",
        U.SET: "Set",
        U.XTY: "Tank",
        U.XOF: "Pallet",
        U.FTK: "Square foot",
        U.KWH: "Kilowatt hour",
        U.MWH: "Megawatt hour",
        U.LBR: "Pound",
        U.CMT: "Centimeter",
        U.DMT: "Decimeter",
        U.LM: "Linear meter",
        U.XPK: "Package",
        U.GRM: "Gram",
        U.HGM: "Hectogram",
        U.XFL: "Flask",
        U.XBE: "Bundle",
        U.E54: "Trip",
        U.MMT: "Millimeter",
        U.DAA: "Decare",
        U.H18: "Hectare",
        U.MLT: "Milliliter",
        U.HLT: "Hectoliter",
        U.DLT: "Deciliter",
        U.AK: "Fathom",
        U.XCR: "Crate",
        U.E14: "Kilocalorie",
        U.MJ: "Megajoule",
        U.J57: "Barrel (petroleum)",
        U.XJG: "Jug",
        U.XCT: "Carton",
        U.XSA: "Sack",
        U.XTU: "Tube",
        U.WEE: "Week",
        U.XCA: "Can (rectangular)",
        U.XCN: "Container",
        U.NAR: "Number of articles",
        U.M4: "Monetary value",
        U.XVQ: "Bulk",
        U.P1: "Percent",
        U.MFU: "Milk forage unit",
        U.KMK: "Square kilometer",
        U.LM3: "Loose cubic meter",
        U.FOT: "Foot",
        U.FM3: "Solid cubic meter",
        U.E34: "Gigabyte",
        U.E35: "Terabyte",
    }
)
"""R-INIT-2: the English name each PowerOffice Go unit code gets in Rackbeat
(docs/poweroffice-v2-fields.md, UnitOfMeasureType meanings)."""


_MAPPING_MD_UNITS: Final[Mapping[str, UnitOfMeasureCode]] = MappingProxyType(
    {
        **dict.fromkeys(("stk", "stk.", "pcs", "pc", "each", "ea", "st", "st."), U.EA),
        **dict.fromkeys(("time", "timer", "hour", "hours", "tim", "timme", "timmar"), U.HUR),
        "kg": U.KGM,
        "g": U.GRM,
        **dict.fromkeys(("l", "liter", "litre"), U.LTR),
        **dict.fromkeys(("m", "meter", "metre"), U.MTR),
        **dict.fromkeys(("pk", "pk.", "pakke", "pack", "pakke(r)"), U.XPK),
        **dict.fromkeys(("sett", "set", "sæt"), U.SET),
        **dict.fromkeys(("par", "pair"), U.PR),
        **dict.fromkeys(("eske", "box", "æske"), U.BX),
        **dict.fromkeys(("dag", "day", "dage", "dager", "days"), U.DAY),
    }
)
"""The unit names of docs/rules.md (R-PROD-6) plus the obvious Danish/Swedish spellings of the
same units."""

UNIT_TABLE: Final[Mapping[str, UnitOfMeasureCode]] = MappingProxyType(
    {
        # The English names the initial sync gives Rackbeat units (R-INIT-2) map back to
        # their own code, so a copied product keeps its unit on the way back (R-PROD-6).
        **{normalise_unit_name(name): code for code, name in UNIT_ENGLISH_NAMES.items()},
        **_MAPPING_MD_UNITS,
    }
)
"""R-PROD-6: Rackbeat unit name (normalised by :func:`normalise_unit_name`) -> unit code.

The defaults of docs/rules.md, R-PROD-6 (with Danish/Swedish spellings), plus every English
unit name of :data:`UNIT_ENGLISH_NAMES`; the rule's entries win where both name a unit.
"""
