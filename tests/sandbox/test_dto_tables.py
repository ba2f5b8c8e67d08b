"""``sandbox/poweroffice/dtos.py`` is what the generator makes of the repository's field tables."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen_poweroffice_dtos.py"
RUFF = str(Path(sys.executable).with_name("ruff"))


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_poweroffice_dtos", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_reads_its_input_from_the_repository() -> None:
    source = Path(_generator().DEFAULT_SPEC).resolve()
    assert source.is_relative_to(ROOT)
    assert source.is_file()


def test_regenerating_the_dto_tables_changes_nothing() -> None:
    generator = _generator()
    text = generator.render(Path(generator.DEFAULT_SPEC).read_text(encoding="utf-8"))
    # Formatted as the generator's instructions say, with the project's ruff settings.
    formatted = subprocess.run(
        [RUFF, "format", "--stdin-filename", str(generator.TARGET), "-"],
        input=text,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    committed = Path(generator.TARGET).read_text(encoding="utf-8")
    assert formatted == committed
