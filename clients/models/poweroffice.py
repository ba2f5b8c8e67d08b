"""PowerOffice Go v2 wire models (docs/poweroffice-v2-fields.md).

Outbound ``…Post`` models are strict and frozen and serialise (``to_wire()``) to the exact
PascalCase names of the v2 ``…PostDto`` schemas, ``None`` omitted. Inbound models read the
``…Dto`` schemas tolerantly: unknown keys are ignored and key case is not significant (the
spec's own error examples use lowercase keys). Updates are JSON-Patch documents of
:class:`PatchOperation`; :data:`PATCHABLE_FIELDS` lists what each resource's ``…PatchDto``
accepts (ids, never codes or numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from clients.models._base import (
    LooseDate,
    LooseDateTime,
    OutboundModel,
    PascalInboundModel,
    PascalOutboundModel,
)

__all__ = [
    "PATCHABLE_FIELDS",
    "AgricultureDepartment",
    "ClientIntegrationInformation",
    "ContactAddress",
    "ContactAddressPost",
    "ContactGroup",
    "ContactGroupPost",
    "Customer",
    "CustomerPost",
    "GeneralLedgerAccount",
    "InvoiceDeliveryType",
    "LineType",
    "PatchOperation",
    "PaymentTerm",
    "PaymentTermPost",
    "ProblemDetails",
    "Product",
    "ProductGroup",
    "ProductGroupPost",
    "ProductPost",
    "ProductType",
    "ReminderDeliveryType",
    "SalesOrder",
    "SalesOrderCompletePost",
    "SalesOrderLine",
    "SalesOrderLinePost",
    "SalesOrderStatus",
    "Supplier",
    "SupplierPost",
    "UnitOfMeasureCode",
    "VatCode",
    "VatReturnSpecification",
]


# --- enums --------------------------------------------------------------------------------


class ProductType(StrEnum):
    """``ProductType``: goods or a service (R-PROD-5)."""

    PRODUCT = "Product"
    SERVICE = "Service"


class InvoiceDeliveryType(StrEnum):
    """``InvoiceDeliveryType`` (v2 has no ``None``/``Email`` member)."""

    PDF_BY_EMAIL = "PdfByEmail"
    PRINT = "Print"
    EHF = "EHF"
    AVTALE_GIRO = "AvtaleGiro"
    EXTERNAL = "External"
    EFAKTURA = "Efaktura"
    FACTORING = "Factoring"


class ReminderDeliveryType(StrEnum):
    """``ReminderDeliveryType`` / ``NoticeOfDebtCollectionDeliveryType``."""

    PDF_BY_EMAIL = "PdfByEmail"
    PRINT = "Print"


class LineType(StrEnum):
    """``VoucherLineType`` of a sales order line (R-INV-10 ``Normal``, R-INV-11 ``Text``)."""

    NORMAL = "Normal"
    TEXT = "Text"
    SUMMARY = "Summary"
    INVOICE_FEE = "InvoiceFee"
    TOTAL_HOURS = "TotalHours"


class SalesOrderStatus(StrEnum):
    """``OrderStatus`` of a sales order (R-INV-1: rbsync only ever writes ``Draft``)."""

    DRAFT = "Draft"
    CONFIRMED = "Confirmed"


class AgricultureDepartment(StrEnum):
    """``AgricultureDepartment`` (agriculture clients only)."""

    NONE = "None"
    FINANCE = "Finance"
    FARMING = "Farming"
    FORESTRY = "Forestry"
    FUR_ANIMALS = "FurAnimals"
    OTHER_INDUSTRIES = "OtherIndustries"
    PRIVATE = "Private"


class VatReturnSpecification(StrEnum):
    """``VatReturnSpecification`` of a sales order line."""

    NONE = "None"
    ADJUSTMENT = "Adjustment"
    LOSSES_ON_CLAIMS = "LossesOnClaims"
    REVERSAL_OF_INPUT_VAT = "ReversalOfInputValueAddedTax"
    WITHDRAWALS = "Withdrawals"
    ADJUSTMENT_VAT_COMPENSATION_REAL_PROPERTY = "AdjustmentVatCompensationRealProperty"
    PURCHASES_ELIGIBLE_FOR_COMPENSATION = "PurchasesEligibleForCompensation"


class UnitOfMeasureCode(StrEnum):
    """``UnitOfMeasureType``: the fixed UN/ECE rec-20 unit codes (v2 has no unit endpoint)."""

    BX = "BX"
    MTR = "MTR"
    KMT = "KMT"
    KGM = "KGM"
    EA = "EA"
    LTR = "LTR"
    HUR = "HUR"
    DAY = "DAY"
    MTK = "MTK"
    MTQ = "MTQ"
    TNE = "TNE"
    MON = "MON"
    ANN = "ANN"
    QAN = "QAN"
    NL = "NL"
    XRO = "XRO"
    XBA = "XBA"
    XPL = "XPL"
    XPC = "XPC"
    PR = "PR"
    XCI = "XCI"
    XBG = "XBG"
    SET = "SET"
    XTY = "XTY"
    XOF = "XOF"
    FTK = "FTK"
    KWH = "KWH"
    MWH = "MWH"
    LBR = "LBR"
    CMT = "CMT"
    DMT = "DMT"
    LM = "LM"
    XPK = "XPK"
    GRM = "GRM"
    HGM = "HGM"
    XFL = "XFL"
    XBE = "XBE"
    E54 = "E54"
    MMT = "MMT"
    DAA = "DAA"
    H18 = "H18"
    MLT = "MLT"
    HLT = "HLT"
    DLT = "DLT"
    AK = "AK"
    XCR = "XCR"
    E14 = "E14"
    MJ = "MJ"
    J57 = "J57"
    XJG = "XJG"
    XCT = "XCT"
    XSA = "XSA"
    XTU = "XTU"
    WEE = "WEE"
    XCA = "XCA"
    XCN = "XCN"
    NAR = "NAR"
    M4 = "M4"
    XVQ = "XVQ"
    P1 = "P1"
    MFU = "MFU"
    KMK = "KMK"
    LM3 = "LM3"
    FOT = "FOT"
    FM3 = "FM3"
    E34 = "E34"
    E35 = "E35"


# --- shared field types -------------------------------------------------------------------

Percent = Annotated[float, Field(ge=-1000, le=100)]
"""``Allowance``: percent, -1000..100 (positive = discount, negative = surcharge)."""

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, upper case."""

ExternalReference = Annotated[str, Field(min_length=1, max_length=50)]
"""``ExternalImportReference``: at most 50 characters."""

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An ``integer (int64)`` field: ids, numbers, account numbers."""


# --- outbound (POST bodies) ---------------------------------------------------------------


class ContactAddressPost(PascalOutboundModel):
    """``ContactAddressPostDto``; ``City`` and ``ZipCode`` are required by PowerOffice Go."""

    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    zip_code: str = Field(min_length=1, max_length=50)
    city: str = Field(min_length=1, max_length=100)
    country_code: CountryCode | None = None
    external_code: str | None = Field(None, max_length=50)


class ProductGroupPost(PascalOutboundModel):
    """``ProductGroupPostDto`` (R-PROD-4, R-PROD-9, R-PROD-10)."""

    resource: ClassVar[str | None] = "ProductGroups"

    code: str | None = Field(None, min_length=1, max_length=200)
    name: str | None = Field(None, max_length=400)
    description: str | None = None
    is_archived: bool | None = None
    product_type: ProductType | None = None
    unit_of_measure_code: UnitOfMeasureCode | None = None
    unit_cost: float | None = None
    unit_price: float | None = None
    standard_sales_account: Int64 | None = None
    standard_sales_account_id: Int64 | None = None
    optional_sales_account: Int64 | None = None
    optional_sales_account_id: Int64 | None = None


class ProductPost(PascalOutboundModel):
    """``ProductPostDto`` (R-PROD-1..8); ``Name`` is the only field the spec requires."""

    resource: ClassVar[str | None] = "Products"

    code: str | None = Field(None, min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=400)
    description: str | None = None
    gtin: str | None = None
    is_archived: bool | None = None
    is_stock_item: bool | None = None
    product_group_id: Int64 | None = None
    product_group_code: str | None = None
    product_type: ProductType | None = None
    unit_of_measure_code: UnitOfMeasureCode | None = None
    unit_cost: float | None = None
    unit_price: float | None = None
    stock_on_hand: float | None = None
    standard_sales_account: Int64 | None = None
    standard_sales_account_id: Int64 | None = None
    optional_sales_account: Int64 | None = None
    optional_sales_account_id: Int64 | None = None


class CustomerPost(PascalOutboundModel):
    """``CustomerPostDto`` (R-CUST-1..9): the fields rbsync may write on a customer."""

    resource: ClassVar[str | None] = "Customers"

    name: str | None = Field(None, min_length=1)
    legal_name: str | None = None
    is_person: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    number: Int64 | None = None
    external_number: Int64 | None = None
    external_import_reference: ExternalReference | None = None
    organization_number: str | None = None
    email_address: str | None = None
    invoice_email_address: str | None = None
    invoice_email_address_cc: str | None = Field(
        None, alias="InvoiceEmailAddressCC", max_length=2000
    )
    phone_number: str | None = None
    website_url: str | None = None
    mail_address: ContactAddressPost | None = None
    invoice_delivery_type: InvoiceDeliveryType | None = None
    reminder_delivery_type: ReminderDeliveryType | None = None
    allowance: Percent | None = None
    payment_term: int | None = Field(None, ge=0, le=32767)
    payment_term_id: Int64 | None = None
    currency_code: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    is_vat_free: bool | None = None
    contact_group_ids: tuple[Int64, ...] | None = None
    sales_person_employee_id: Int64 | None = None
    sales_person_employee_number: Int64 | None = None
    is_archived: bool | None = None


class SupplierPost(PascalOutboundModel):
    """``SupplierPostDto`` (R-SUP-1..9). v2 has no payment-terms and no VAT-zone field."""

    resource: ClassVar[str | None] = "Suppliers"

    name: str | None = Field(None, min_length=1)
    legal_name: str | None = None
    is_person: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    number: Int64 | None = None
    external_number: Int64 | None = None
    external_import_reference: ExternalReference | None = None
    organization_number: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    website_url: str | None = None
    mail_address: ContactAddressPost | None = None
    currency_code: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    contact_group_ids: tuple[Int64, ...] | None = None
    payout: bool | None = None
    is_archived: bool | None = None


class SalesOrderLinePost(PascalOutboundModel):
    """``SalesOrderLinePostDto`` (R-INV-10, R-INV-11)."""

    line_type: LineType | None = None
    product_code: str | None = Field(None, min_length=1, max_length=100)
    product_id: Int64 | None = None
    description: str | None = None
    quantity: float | None = None
    allowance: Percent | None = None
    product_unit_price: float | None = None
    product_unit_cost: float | None = None
    unit_of_measure_code: UnitOfMeasureCode | None = None
    sort_order: int | None = Field(None, ge=0)
    use_standard_sales_account: bool | None = None
    external_import_reference: ExternalReference | None = None
    vat_return_specification: VatReturnSpecification | None = None


class SalesOrderCompletePost(PascalOutboundModel):
    """``SalesOrderCompletePostDto``: a sales order draft with its lines (R-INV-1..11)."""

    resource: ClassVar[str | None] = "SalesOrders"

    customer_id: Int64 | None = None
    customer_no: Int64 | None = None
    sales_order_status: SalesOrderStatus | None = None
    imported_order_no: Int64 | None = None
    sales_order_date: LooseDate = None
    delivery_date: LooseDate = None
    currency_code: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    currency_exchange_rate: float | None = None
    sales_person_employee_id: Int64 | None = None
    sales_person_employee_number: Int64 | None = None
    customer_reference: str | None = None
    purchase_order_reference: str | None = None
    contract_no: str | None = None
    payment_term: int | None = Field(None, ge=0, le=32767)
    payment_term_id: Int64 | None = None
    external_import_reference: ExternalReference | None = None
    custom_matching_reference: str | None = None
    related_invoice_no: Int64 | None = None
    sales_order_lines: tuple[SalesOrderLinePost, ...] | None = None


class PaymentTermPost(PascalOutboundModel):
    """``PaymentTermPostDto`` (R-CUST-9: a term with the customer's credit days)."""

    name: str = Field(min_length=1, max_length=128)
    credit_days: int = Field(ge=0, le=32767)
    is_active: bool | None = None
    is_default: bool | None = None


class ContactGroupPost(PascalOutboundModel):
    """``ContactGroupPostDto`` (R-SUP-9: the supplier group)."""

    name: str = Field(min_length=1, max_length=400)


class PatchOperation(OutboundModel):
    """One RFC 6902 operation of a v2 ``PATCH`` body (``application/json-patch+json``)."""

    op: Literal["replace", "add", "remove"]
    path: str = Field(pattern=r"^/[A-Za-z0-9]+(/[A-Za-z0-9]+)*$")
    value: Any = None

    def to_wire(self) -> dict[str, Any]:
        """The operation as JSON; ``value`` is kept even when null, except for ``remove``."""
        body = self.model_dump(mode="json")
        if self.op == "remove":
            body.pop("value")
        return body


PATCHABLE_FIELDS: Mapping[str, frozenset[str]] = {
    "Products": frozenset(
        [
            "Code",
            "Description",
            "Gtin",
            "IsArchived",
            "IsStockItem",
            "Name",
            "OptionalSalesAccountId",
            "ProductGroupId",
            "ProductType",
            "StandardSalesAccountId",
            "StockOnHand",
            "UnitCost",
            "UnitOfMeasureCode",
            "UnitPrice",
        ]
    ),
    "ProductGroups": frozenset(
        [
            "Code",
            "Description",
            "IsArchived",
            "Name",
            "OptionalSalesAccountId",
            "ProductType",
            "StandardSalesAccountId",
            "UnitCost",
            "UnitOfMeasureCode",
            "UnitPrice",
        ]
    ),
    "Customers": frozenset(
        [
            "Allowance",
            "BillableRate",
            "ContactGroupIds",
            "CurrencyCode",
            "CustomerSince",
            "DateOfBirth",
            "DeliveryTermId",
            "DepartmentId",
            "DoNotAddLatePaymentFees",
            "DoNotAddLatePaymentInterest",
            "DoNotAutomatePaymentNotifications",
            "EmailAddress",
            "ExternalImportReference",
            "ExternalNumber",
            "FirstName",
            "InvoiceBrandingThemeId",
            "InvoiceDeliveryType",
            "InvoiceEmailAddress",
            "InvoiceEmailAddressCC",
            "IsArchived",
            "IsPerson",
            "IsVatFree",
            "LastName",
            "LegalName",
            "MailAddress",
            "Name",
            "NationalIdNumber",
            "NoticeOfDebtCollectionDeliveryType",
            "Number",
            "OrganizationNumber",
            "PaymentReminderEmailAddress",
            "PaymentTermId",
            "PhoneNumber",
            "ReminderDeliveryType",
            "SalesPersonEmployeeId",
            "SendPaymentReminders",
            "TransferToDebtCollectionAgency",
            "UseInvoiceFee",
            "WebsiteUrl",
        ]
    ),
    "ContactAddresses": frozenset(
        ["AddressLine1", "AddressLine2", "City", "CountryCode", "ExternalCode", "ZipCode"]
    ),
    "Suppliers": frozenset(
        [
            "ContactGroupIds",
            "CurrencyCode",
            "DateOfBirth",
            "EmailAddress",
            "ExternalImportReference",
            "ExternalNumber",
            "FirstName",
            "IsArchived",
            "IsPerson",
            "LastName",
            "LegalName",
            "MailAddress",
            "Name",
            "Number",
            "OrganizationNumber",
            "Payout",
            "PhoneNumber",
            "WebsiteUrl",
        ]
    ),
    "SalesOrders": frozenset(
        [
            "BrandingThemeId",
            "ContactDeliveryAddressId",
            "ContractNo",
            "CurrencyCode",
            "CurrencyExchangeRate",
            "CustomMatchingReference",
            "CustomerId",
            "CustomerReference",
            "CustomerReferenceContactPersonId",
            "DeliveryDate",
            "DeliveryTermId",
            "DepartmentId",
            "Dim1Id",
            "Dim2Id",
            "Dim3Id",
            "ExternalImportReference",
            "ImportedOrderNo",
            "LocationId",
            "PaymentTermId",
            "ProjectId",
            "PurchaseOrderReference",
            "RelatedInvoiceNo",
            "SalesOrderDate",
            "SalesOrderStatus",
            "SalesPersonEmployeeId",
        ]
    ),
    "SalesOrderLines": frozenset(
        [
            "Accrual",
            "Allowance",
            "DepartmentId",
            "Description",
            "Dim1Id",
            "Dim2Id",
            "Dim3Id",
            "ExternalImportReference",
            "LineType",
            "LocationId",
            "ProductId",
            "ProductUnitCost",
            "ProductUnitPrice",
            "ProjectId",
            "Quantity",
            "SellersReferenceEmployeeId",
            "SortOrder",
            "UnitOfMeasureCode",
            "UseStandardSalesAccount",
            "VatReturnSpecification",
        ]
    ),
}
"""Top-level fields each v2 resource's ``…PatchDto`` accepts (``poweroffice-v2-fields.md``)."""


# --- inbound (GET responses) --------------------------------------------------------------


class _CaseInsensitiveInbound(PascalInboundModel):
    """Matches keys case-insensitively: the spec's examples mix ``title`` and ``Title``."""

    @model_validator(mode="before")
    @classmethod
    def _canonical_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        wire = {
            (info.alias or name).lower(): info.alias or name
            for name, info in cls.model_fields.items()
        }
        return {wire.get(str(key).lower(), key): value for key, value in data.items()}


class ContactAddress(_CaseInsensitiveInbound):
    """``ContactAddressDto``."""

    id: int | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country_code: str | None = None
    external_code: str | None = None


class ProductGroup(_CaseInsensitiveInbound):
    """``ProductGroupDto``."""

    id: int
    code: str | None = None
    name: str | None = None
    description: str | None = None
    is_archived: bool | None = None
    product_type: ProductType | None = None
    unit_of_measure_code: str | None = None
    unit_cost: float | None = None
    unit_price: float | None = None
    standard_sales_account: int | None = None
    standard_sales_account_id: int | None = None
    optional_sales_account: int | None = None
    optional_sales_account_id: int | None = None
    created_date_time_offset: LooseDateTime = None
    last_changed_date_time_offset: LooseDateTime = None


class Product(_CaseInsensitiveInbound):
    """``ProductDto``."""

    id: int
    code: str | None = None
    name: str | None = None
    description: str | None = None
    gtin: str | None = None
    is_archived: bool | None = None
    is_stock_item: bool | None = None
    product_group_id: int | None = None
    product_group_code: str | None = None
    product_type: ProductType | None = None
    unit_of_measure_code: str | None = None
    unit_cost: float | None = None
    unit_price: float | None = None
    stock_on_hand: float | None = None
    standard_sales_account: int | None = None
    standard_sales_account_id: int | None = None
    optional_sales_account: int | None = None
    optional_sales_account_id: int | None = None
    created_date_time_offset: LooseDateTime = None
    last_changed_date_time_offset: LooseDateTime = None


class Customer(_CaseInsensitiveInbound):
    """``CustomerDto``."""

    id: int
    name: str | None = None
    legal_name: str | None = None
    is_person: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    number: int | None = None
    external_number: int | None = None
    external_import_reference: str | None = None
    organization_number: str | None = None
    email_address: str | None = None
    invoice_email_address: str | None = None
    phone_number: str | None = None
    website_url: str | None = None
    mail_address: ContactAddress | None = None
    invoice_delivery_type: str | None = None
    allowance: float | None = None
    payment_term: int | None = None
    payment_term_id: int | None = None
    currency_code: str | None = None
    is_vat_free: bool | None = None
    is_archived: bool | None = None
    contact_group_ids: list[int] | None = None
    last_changed_date_time_offset: LooseDateTime = None


class Supplier(_CaseInsensitiveInbound):
    """``SupplierDto``."""

    id: int
    name: str | None = None
    legal_name: str | None = None
    is_person: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    number: int | None = None
    external_number: int | None = None
    external_import_reference: str | None = None
    organization_number: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    website_url: str | None = None
    mail_address: ContactAddress | None = None
    currency_code: str | None = None
    contact_group_ids: list[int] | None = None
    payout: bool | None = None
    is_archived: bool | None = None
    last_changed_date_time_offset: LooseDateTime = None


class SalesOrderLine(_CaseInsensitiveInbound):
    """``SalesOrderLineDto``."""

    id: str | None = None
    line_type: str | None = None
    product_id: int | None = None
    product_code: str | None = None
    description: str | None = None
    quantity: float | None = None
    allowance: float | None = None
    product_unit_price: float | None = None
    sort_order: int | None = None
    external_import_reference: str | None = None


class SalesOrder(_CaseInsensitiveInbound):
    """``SalesOrderDto`` / ``SalesOrderCompleteDto`` (lines only on the latter)."""

    id: str
    sales_order_no: int | None = None
    sales_order_status: str | None = None
    customer_id: int | None = None
    customer_no: int | None = None
    imported_order_no: int | None = None
    sales_order_date: LooseDate = None
    currency_code: str | None = None
    customer_reference: str | None = None
    purchase_order_reference: str | None = None
    contract_no: str | None = None
    external_import_reference: str | None = None
    sales_person_employee_id: int | None = None
    sales_person_employee_number: int | None = None
    is_created_by_current_integration: bool | None = None
    net_amount: float | None = None
    total_amount: float | None = None
    created_date_time_offset: LooseDateTime = None
    last_changed_date_time_offset: LooseDateTime = None
    sales_order_lines: list[SalesOrderLine] | None = None


class PaymentTerm(_CaseInsensitiveInbound):
    """``PaymentTermDto``."""

    id: int
    name: str | None = None
    credit_days: int | None = None
    is_active: bool | None = None
    is_default: bool | None = None


class ContactGroup(_CaseInsensitiveInbound):
    """``ContactGroupDto``."""

    id: int
    name: str | None = None


class GeneralLedgerAccount(_CaseInsensitiveInbound):
    """``GeneralLedgerAccountDto`` (sales accounts 3000/3030/3100, R-PROD-9/10)."""

    id: int
    account_no: int
    name: str | None = None
    is_active: bool | None = None
    vat_code: str | None = None
    vat_code_id: int | None = None
    general_ledger_account_type: str | None = None
    currency_code: str | None = None


class VatCode(_CaseInsensitiveInbound):
    """``VatCodeDto``; ``Rate`` is a fraction (0..1)."""

    id: int
    code: str | None = None
    name: str | None = None
    description: str | None = None
    rate: float | None = None
    is_active: bool | None = None


class ClientIntegrationInformation(_CaseInsensitiveInbound):
    """``GET /ClientIntegrationInformation``: connectivity and privilege check."""

    client_id: str | None = None
    client_name: str | None = None
    valid_privileges: list[str] = Field(default_factory=list)
    invalid_privileges: list[str] = Field(default_factory=list)
    active_client_subscriptions: list[Any] = Field(default_factory=list)


class ProblemDetails(_CaseInsensitiveInbound):
    """An RFC 7807 error body; an ASP.NET-style ``errors`` dictionary is kept when present."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    errors: dict[str, Any] | None = None
