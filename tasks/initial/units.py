"""The ``units`` step (R-INIT-2): the unit of every unit code the copied products use.

Each code gets the Rackbeat unit with its English name (``EA`` -> "Each"), linked when Rackbeat
has one by that name, created otherwise; the link survives a rename in Rackbeat (the code's
``initial_sync_items`` row is final). ``--kinds products`` without ``units`` resolves the same
units on demand.
"""

from __future__ import annotations

from mapping.initial import unit_codes_to_copy
from tasks.initial.dependencies import Dependencies
from tasks.initial.engine import Engine
from tasks.initial.products import PowerOfficeProducts

__all__ = ["UnitsStep"]


class UnitsStep:
    """R-INIT-2: the units, before the products that use them."""

    kind = "units"

    def run(self, engine: Engine) -> None:
        products = engine.guard(engine.shared(PowerOfficeProducts).products)
        codes = unit_codes_to_copy(products)
        engine.begin("units", len(codes))
        dependencies = engine.shared(Dependencies)
        for code in codes:
            engine.checkpoint()
            dependencies.unit(code)
