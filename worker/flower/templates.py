"""Flower's own templates, with rbsync's Retry actions, entity links and Entities tab included at
named places.

Copying Flower's ``task.html`` to add one button would fork a 120-line template from the Flower
release it was copied from. Instead this loader reads Flower's file and inserts one
``{% include %}`` after a known anchor; when a Flower upgrade moves the anchor, loading the page
fails with :class:`TemplateAnchorMissingError` (and the tests say so) instead of silently losing the
button.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tornado.template import Loader, Template

OWN_TEMPLATES = Path(__file__).parent / "templates"
OWN_PREFIX = "rbsync/"


@dataclass(frozen=True)
class Insertion:
    """Insert ``{% include include %}`` right after the first ``anchor`` in a Flower template."""

    anchor: str
    include: str


INSERTIONS: dict[str, Insertion] = {
    "task.html": Insertion('<div class="detail-actions">', "rbsync/task_actions.html"),
    "tasks.html": Insertion(
        '<p class="page-eyebrow">Task history</p>', "rbsync/tasks_actions.html"
    ),
    # After the Broker tab, inside the primary navigation's list.
    "navbar.html": Insertion(
        'aria-current="page"{% end %}>Broker</a>\n        </li>', "rbsync/navbar_entities.html"
    ),
}


class TemplateAnchorMissingError(LookupError):
    """A Flower template no longer has the place rbsync inserts its actions at."""


def flower_template_dir() -> Path:
    """Where the installed Flower keeps its templates."""
    import flower

    return Path(flower.__file__).parent / "templates"


class RbsyncTemplateLoader(Loader):
    """Loads Flower's templates, with the :data:`INSERTIONS`, and rbsync's under ``rbsync/``."""

    def __init__(self, flower_templates: Path | None = None) -> None:
        super().__init__(str(flower_templates or flower_template_dir()))

    def _create_template(self, name: str) -> Template:
        if name.startswith(OWN_PREFIX):
            source = (OWN_TEMPLATES / name).read_bytes()
        else:
            source = (Path(self.root) / name).read_bytes()
            insertion = INSERTIONS.get(name)
            if insertion is not None:
                source = insert_include(name, source.decode("utf-8"), insertion).encode("utf-8")
        return Template(source, name=name, loader=self)


def insert_include(name: str, source: str, insertion: Insertion) -> str:
    """``source`` with the include placed after the anchor; raises if the anchor is gone."""
    position = source.find(insertion.anchor)
    if position < 0:
        raise TemplateAnchorMissingError(
            f"Flower's {name} has no {insertion.anchor!r}: rbsync's actions cannot be placed "
            "(was Flower upgraded? adjust worker/flower/templates.py INSERTIONS)"
        )
    end = position + len(insertion.anchor)
    return f'{source[:end]}\n{{% include "{insertion.include}" %}}\n{source[end:]}'
