"""R-CUST-4 / R-SUP-5: organisation and VAT numbers, normalised and checked with python-stdnum.

``NO 974 760 673 MVA`` -> ``974760673``; ``DK13585628`` -> ``13585628``;
``SE556036079301`` -> ``5560360793``. The country comes from the number's prefix, else from the
address. Norwegian org.nr, Danish CVR and Swedish org.nr are checked with their stdnum module;
other countries with stdnum's VAT module for the country, when it has one. A failed checksum is
a warning (the number is still sent); a value that cannot be an organisation number at all
(no digits, odd characters, absurd length) is :class:`UnusableNumberError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Protocol

import pycountry
from stdnum import util
from stdnum.dk import cvr
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

__all__ = ["OrgNumber", "UnusableNumberError", "normalise_org_number"]

_SEPARATORS: Final = " -./\t"
_USABLE: Final = re.compile(r"^[A-Z0-9]{4,20}$")
# Greece writes its VAT prefix as EL, which is no ISO 3166-1 code.
_PREFIX_ALIASES: Final = {"EL": "GR"}


class _Checker(Protocol):
    def is_valid(self, number: str) -> bool: ...


_CHECKERS: Final[dict[str, _Checker]] = {"NO": no_orgnr, "DK": cvr, "SE": se_orgnr}


class UnusableNumberError(ValueError):
    """The value cannot be an organisation or VAT number."""


@dataclass(frozen=True, slots=True)
class OrgNumber:
    """A normalised number; ``valid`` is None when no checker applies to its country."""

    number: str
    country: str | None
    valid: bool | None


def _split_prefix(compact: str) -> tuple[str | None, str]:
    head = compact[:2]
    if len(compact) > 2 and head.isalpha() and compact[2:3].isdigit():
        country = _PREFIX_ALIASES.get(head, head)
        if pycountry.countries.get(alpha_2=country) is not None:
            return country, compact[2:]
    return None, compact


def _checker(country: str | None) -> _Checker | None:
    if country is None:
        return None
    if country in _CHECKERS:
        return _CHECKERS[country]
    module: _Checker | None = util.get_cc_module(country.lower(), "vat")
    return module


def normalise_org_number(value: str, *, country_hint: str | None = None) -> OrgNumber:
    """Normalise ``value`` (R-CUST-4): separators out, country prefix and ``MVA`` stripped."""
    compact = util.clean(value, _SEPARATORS).upper()
    prefix_country, number = _split_prefix(compact)
    if number.endswith("MVA"):
        number = number[: -len("MVA")]
    country = prefix_country or country_hint
    if country == "SE" and len(number) == 12 and number.endswith("01"):
        number = number[:10]  # Swedish VAT number = org.nr + "01"
    if not _USABLE.match(number) or not any(ch.isdigit() for ch in number):
        raise UnusableNumberError(f"{value!r} is not a usable organisation number")
    checker = _checker(country)
    if checker is None:
        return OrgNumber(number=number, country=country, valid=None)
    candidate = number if country in _CHECKERS else f"{country}{number}"
    return OrgNumber(number=number, country=country, valid=bool(checker.is_valid(candidate)))
