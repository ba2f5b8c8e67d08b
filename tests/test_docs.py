"""What the documentation states about the repository stays true of it."""

from __future__ import annotations

import re
from pathlib import Path

from ledger import head_revision

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]

# How the docs quote the schema an up-to-date ledger is at: check's "schema at the newest
# revision (NNNN)" and db upgrade's "at revision NNNN (head NNNN)".
_HEAD_REVISION = re.compile(r"newest revision \((\d{4})\)|\(head (\d{4})\)")


def test_revisions_the_docs_call_the_newest_are_the_migrations_head() -> None:
    head = head_revision()
    stale = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in DOCS
        for match in _HEAD_REVISION.finditer(path.read_text(encoding="utf-8"))
        if head not in match.groups()
    ]
    assert stale == [], f"the head revision is {head}"
