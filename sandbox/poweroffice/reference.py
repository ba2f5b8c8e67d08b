"""Reference data every PowerOffice Go client company has: accounts, VAT codes, terms.

The chart of accounts follows Norwegian convention (NS 4102): 3000 sales with 25 % VAT, 3030
with 15 %, 3100 VAT-exempt sales; the VAT codes are the SAF-T standard codes with ``Rate`` as
a fraction (0.25). Employees have no v2 endpoint here; they exist so that a sales person
reference on an order or a customer can be checked.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLIENT_ID",
    "CLIENT_NAME",
    "EMPLOYEES",
    "GENERAL_LEDGER_ACCOUNTS",
    "PAYMENT_TERMS",
    "PRIVILEGES",
    "VAT_CODES",
]

CLIENT_ID = "7d2b8f0e-5c1a-4e8b-9f3d-2a6c4b1e0f97"
CLIENT_NAME = "Sandkasse Demo AS"
PRIVILEGES = (
    "Product_Full",
    "Customer_Full",
    "Supplier_Full",
    "SalesOrders_Full",
    "ContactGroup_Full",
    "CommonServices",
    "GeneralLedgerAccount",
)

# (Id, Code, Name, Rate, Description)
VAT_CODES: tuple[tuple[int, str, str, float, str], ...] = (
    (1000, "0", "Ingen mva-behandling", 0.0, "No VAT treatment"),
    (1001, "1", "Fradrag inngående mva, høy sats", 0.25, "Deductible input VAT, regular rate"),
    (1011, "11", "Fradrag inngående mva, middels sats", 0.15, "Deductible input VAT, medium rate"),
    (1013, "13", "Fradrag inngående mva, lav sats", 0.12, "Deductible input VAT, low rate"),
    (1003, "3", "Utgående mva, høy sats", 0.25, "Output VAT, regular rate"),
    (1031, "31", "Utgående mva, middels sats", 0.15, "Output VAT, medium rate"),
    (1033, "33", "Utgående mva, lav sats", 0.12, "Output VAT, low rate"),
    (1005, "5", "Innenlands omsetning fritatt for mva", 0.0, "Domestic sales exempt from VAT"),
    (1006, "6", "Omsetning utenfor mva-loven", 0.0, "Sales outside the scope of the VAT Act"),
    (1052, "52", "Utførsel av varer og tjenester", 0.0, "Export of goods and services"),
)

# (AccountNo, Name, GeneralLedgerAccountType, VAT code or None)
GENERAL_LEDGER_ACCOUNTS: tuple[tuple[int, str, str, str | None], ...] = (
    (1500, "Kundefordringer", "Asset", None),
    (1920, "Bankinnskudd", "Asset", None),
    (2400, "Leverandørgjeld", "Liability", None),
    (2700, "Utgående merverdiavgift", "Liability", None),
    (3000, "Salgsinntekt handelsvarer, avgiftspliktig", "Income", "3"),
    (3030, "Salgsinntekt, avgiftspliktig middels sats", "Income", "31"),
    (3100, "Salgsinntekt handelsvarer, avgiftsfri", "Income", "5"),
    (3200, "Salgsinntekt, utenfor avgiftsområdet", "Income", "6"),
    (3600, "Leieinntekt", "Income", "0"),
    (4000, "Innkjøp av råvarer og halvfabrikater", "Expense", "1"),
    (4300, "Innkjøp av varer for videresalg", "Expense", "1"),
    (6300, "Leie lokale", "Expense", "0"),
    (7770, "Bank- og kortgebyrer", "Expense", "0"),
)
GL_ACCOUNT_ID_BASE = 5_000_000

# (Id, Name, CreditDays, IsDefault)
PAYMENT_TERMS: tuple[tuple[int, str, int, bool], ...] = (
    (301, "10 dager", 10, False),
    (302, "14 dager", 14, True),
    (303, "30 dager", 30, False),
)

# (Id, Number, Name)
EMPLOYEES: tuple[tuple[int, int, str], ...] = (
    (9001, 1, "Kari Nordmann"),
    (9002, 2, "Ola Hansen"),
    (9003, 3, "Ingrid Berg"),
    (9004, 4, "Lars Johansen"),
)


def vat_code_records() -> list[dict[str, Any]]:
    """``VatCodeDto`` records."""
    return [
        {
            "Id": vat_id,
            "Code": code,
            "Name": name,
            "Description": description,
            "Rate": rate,
            "IsActive": True,
            "IsCustom": False,
            "BaseVatCodeId": None,
            "ValidFrom": "2017-01-01",
            "ValidTo": None,
            "VatBasisRatio": None,
            "VatBasisRatioValidFrom": None,
            "VatBasisRatios": None,
        }
        for vat_id, code, name, rate, description in VAT_CODES
    ]


def general_ledger_account_records(changed: str) -> list[dict[str, Any]]:
    """``GeneralLedgerAccountDto`` records."""
    vat_ids = {code: vat_id for vat_id, code, _, _, _ in VAT_CODES}
    return [
        {
            "Id": GL_ACCOUNT_ID_BASE + number,
            "AccountNo": number,
            "Name": name,
            "GeneralLedgerAccountType": kind,
            "AgricultureDepartment": "None",
            "CurrencyCode": None,
            "DepartmentCode": None,
            "DepartmentId": None,
            "IsActive": True,
            "IsDepartmentRequired": False,
            "IsProjectRequired": False,
            "IsVatCodeLocked": vat is not None,
            "LastChangedDateTimeOffset": changed,
            "Unit1": None,
            "Unit2": None,
            "VatCode": vat,
            "VatCodeId": vat_ids[vat] if vat is not None else None,
            "VatReturnSpecification": "None",
        }
        for number, name, kind, vat in GENERAL_LEDGER_ACCOUNTS
    ]


def payment_term_records(created: str) -> list[dict[str, Any]]:
    """``PaymentTermDto`` records."""
    return [
        {
            "Id": term_id,
            "Name": name,
            "CreditDays": days,
            "IsDefault": default,
            "IsActive": True,
            "CreatedDateTimeOffset": created,
            "LastChangedDateTimeOffset": created,
        }
        for term_id, name, days, default in PAYMENT_TERMS
    ]
