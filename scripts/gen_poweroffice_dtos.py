"""Regenerate ``sandbox/poweroffice/dtos.py`` from docs/poweroffice-v2-fields.md's tables.

.venv/bin/python scripts/gen_poweroffice_dtos.py [path/to/poweroffice-v2-fields.md]
.venv/bin/ruff format sandbox/poweroffice/dtos.py

``tests/sandbox/test_dto_tables.py`` checks that doing so changes nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "docs" / "poweroffice-v2-fields.md"
TARGET = ROOT / "sandbox" / "poweroffice" / "dtos.py"
WANTED = (
    "ProductPostDto", "ProductDto", "ProductGroupPostDto", "ProductGroupDto", "CustomerPostDto",
    "CustomerDto", "SupplierPostDto", "SupplierDto", "ContactAddressPostDto", "ContactAddressDto",
    "SalesOrderCompletePostDto", "SalesOrderLinePostDto", "SalesOrderAccrualPostDto",
    "SalesOrderDto", "SalesOrderCompleteDto", "SalesOrderLineDto", "PaymentTermPostDto",
    "PaymentTermDto", "ContactGroupPostDto", "ContactGroupDto", "VatCodeDto",
    "GeneralLedgerAccountDto",
)  # fmt: skip
PRIMITIVES = ("integer", "number", "string", "boolean")
HEADER = '''"""PowerOffice Go v2 DTO field tables, from docs/poweroffice-v2-fields.md.

Generated mechanically by ``scripts/gen_poweroffice_dtos.py`` (do not edit by hand):
``Field(kind, ref, read_only, max_length)`` per DTO, the enums and the PATCH DTO field lists.
``kind`` is one of string, integer, number, boolean, date, datetime, uuid, enum (``ref`` = enum
name), object (``ref`` = DTO name) and array (``ref`` = item kind or DTO name).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DTOS", "ENUMS", "PATCH_FIELDS", "REQUIRED", "Field"]


class Field(NamedTuple):
    """One DTO property."""

    kind: str
    ref: str | None
    read_only: bool
    max_length: int | None

'''


def _kind(type_text: str, enums: dict[str, list[str]]) -> tuple[str, str | None]:
    base = type_text.split(" (", maxsplit=1)[0]
    if type_text.startswith("array of"):
        inner = type_text[len("array of ") :]
        head = inner.split(" ")[0]
        return "array", _kind(inner, enums)[0] if head in PRIMITIVES else inner
    if base == "string":
        for fmt, kind in (("(date-time)", "datetime"), ("(date)", "date"), ("(uuid)", "uuid")):
            if fmt in type_text:
                return kind, None
        return "string", None
    if base in PRIMITIVES:
        return base, None
    if base in enums:
        return "enum", base
    return "object", base


def render(spec: str) -> str:
    """The text of ``dtos.py`` for the spec file's content."""
    sections = {s.split("\n", 1)[0].strip(): s for s in re.split(r"^## ", spec, flags=re.M)}
    enum_text = spec[spec.index("## Enums") :]
    enums = {
        m.group(1): [x.strip() for x in m.group(2).split(",")]
        for m in re.finditer(r"^- \*\*(\w+)\*\*: (.*)$", enum_text, flags=re.M)
    }
    patch = {
        m.group(1): [x.strip() for x in m.group(2).split(",")]
        for m in re.finditer(r"^- \*\*(\w+PatchDto)\*\*: (.*)$", spec, flags=re.M)
    }
    lines = [HEADER, "\nDTOS: dict[str, dict[str, Field]] = {"]
    required: dict[str, list[str]] = {}
    for name in WANTED:
        section = sections[name]
        found = re.search(r"Spec `required`: (.*)", section)
        if found:
            required[name] = [x.strip() for x in found.group(1).split(",")]
        lines.append(f"    {name!r}: {{")
        for row in section.splitlines():
            if not row.startswith("| ") or row.startswith("| Field"):
                continue
            field, type_text, flags = (c.strip() for c in row.strip("|").split("|")[:3])
            max_match = re.search(r"max=(\d+)", flags)
            kind, ref = _kind(type_text, enums)
            max_length = int(max_match.group(1)) if max_match else None
            read_only = "RO" in flags.split()
            lines.append(f"        {field!r}: Field({kind!r}, {ref!r}, {read_only}, {max_length}),")
        lines.append("    },")
    lines.append("}\n\nREQUIRED: dict[str, tuple[str, ...]] = {")
    lines += [f"    {name!r}: {tuple(fields)!r}," for name, fields in required.items()]
    lines.append("}\n\nENUMS: dict[str, frozenset[str]] = {")
    lines += [f"    {name!r}: frozenset({members!r})," for name, members in enums.items()]
    lines.append("}\n\nPATCH_FIELDS: dict[str, tuple[str, ...]] = {")
    lines += [f"    {name!r}: {tuple(fields)!r}," for name, fields in patch.items()]
    lines.append("}\n")
    return "\n".join(lines)


def main() -> None:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    TARGET.write_text(render(spec_path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}; now run: ruff format {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
