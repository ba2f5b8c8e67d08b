"""R-CUST-3: a country as ISO 3166-1 alpha-2, from a code or a name in several languages.

Rackbeat's ``address_country`` is free text ("Norge", "Danmark", "Sverige", "NO"). The name
index is built once, lazily, from pycountry's own data: the English names (``name``,
``official_name``, ``common_name``) and the gettext translations pycountry ships for Danish,
Norwegian (bokmål, nynorsk), Swedish, German, Dutch and Finnish. No hand table.
"""

from __future__ import annotations

import gettext
import unicodedata
from functools import cache
from typing import Final

import pycountry

__all__ = ["NAME_LANGUAGES", "UnknownCountryError", "country_code"]

NAME_LANGUAGES: Final = ("da", "nb_NO", "nn", "sv", "de", "nl", "fi")
"""pycountry locales whose country names are understood (besides English)."""


class UnknownCountryError(ValueError):
    """The value is neither an ISO 3166-1 code nor a known country name."""


def _fold(text: str) -> str:
    """Compare names case- and accent-insensitively, ignoring punctuation and spacing."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(ch for ch in decomposed if ch.isalnum() or ch.isspace())
    return " ".join(kept.split())


@cache
def _name_index() -> dict[str, str]:
    """Folded country name -> alpha-2; English first, then each language in order."""
    index: dict[str, str] = {}
    countries = list(pycountry.countries)
    for country in countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                index.setdefault(_fold(name), country.alpha_2)
    for language in NAME_LANGUAGES:
        translation = gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
        )
        for country in countries:
            for attr in ("name", "official_name", "common_name"):
                name = getattr(country, attr, None)
                if name:
                    index.setdefault(_fold(translation.gettext(name)), country.alpha_2)
    return index


def country_code(value: str) -> str:
    """The ISO 3166-1 alpha-2 code for ``value``: a code (any case), alpha-3, or a name.

    Raises :class:`UnknownCountryError` for anything else.
    """
    text = value.strip()
    if len(text) == 2 and text.isascii() and text.isalpha():
        found = pycountry.countries.get(alpha_2=text.upper())
        if found is not None:
            return str(found.alpha_2)
    if len(text) == 3 and text.isascii() and text.isalpha():
        found = pycountry.countries.get(alpha_3=text.upper())
        if found is not None:
            return str(found.alpha_2)
    code = _name_index().get(_fold(text))
    if code is None:
        raise UnknownCountryError(
            f"{value!r} is neither an ISO 3166-1 code nor a known country name"
        )
    return code
