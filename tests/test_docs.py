"""What the documentation states about the repository stays true of it."""

from __future__ import annotations

import re
import subprocess
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


# Built from parts so that this file does not match itself.
_OUTSIDE = re.compile(
    "|".join(
        re.escape(text)
        for text in (
            "../" + "shared",
            "shared" + "/spec",
            "spec" + "/poweroffice-v2-fields",
            "rackbeat-api" + ".md",
            "poweroffice-api" + ".md",
            "celery-reliability" + ".md",
            "integration" + ".md",
            "DESIGN" + ".md",
            "STYLE" + ".md",
        )
    )
)
_CHECKED_SUFFIXES = (".md", ".py", ".toml", ".yml", ".yaml", ".cfg", ".sh", ".txt", ".ini")


def test_no_tracked_file_points_outside_the_repository() -> None:
    # The repository must stand alone: what the code relies on is in docs/, in our words.
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    names = [name for name in listed.split("\0") if name]
    checked = [
        name
        for name in names
        if name.endswith(_CHECKED_SUFFIXES) or Path(name).name in {"Procfile", "Dockerfile"}
    ]
    assert "README.md" in checked
    found = [
        f"{name}:{number}: {line.strip()}"
        for name in checked
        if (ROOT / name).is_file()
        for number, line in enumerate(
            (ROOT / name).read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        if _OUTSIDE.search(line)
    ]
    assert found == []
