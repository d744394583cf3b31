"""pyproject.toml promises only the Python our code runs on: its requires-python is at least
the newest version that a standard-library feature our code uses needs, and the interpreter the
tests run on meets it (no older one can be had here, so the floor is checked, not claimed)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Standard-library names that came in a given Python: (module, name) -> version. Extend it when
# the code starts using another one (tests fail only for names listed here).
NEEDS: dict[tuple[str, str | None], tuple[int, int]] = {
    ("hashlib", "file_digest"): (3, 11),
    ("datetime", "UTC"): (3, 11),
    ("tomllib", None): (3, 11),
    ("typing", "Self"): (3, 11),
    ("enum", "StrEnum"): (3, 11),
    ("itertools", "batched"): (3, 12),
}


def used_features(path: Path) -> set[tuple[str, str | None]]:
    """(module, name) pairs of NEEDS that ``path`` uses: module.name, from module import name,
    or import module."""
    found: set[tuple[str, str | None]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found.add((node.value.id, node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
    return found & NEEDS.keys()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def required_python() -> tuple[int, int]:
    spec = project()["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)", spec)
    assert match, f"requires-python {spec!r}: write it as >=X.Y"
    return int(match[1]), int(match[2])


def test_requires_python_covers_every_feature_the_code_uses():
    files = [p for folder in ("rotnet", "stages", "benchmarks") for p in (ROOT / folder).rglob("*.py")]
    uses = {feature: str(p.relative_to(ROOT)) for p in files for feature in used_features(p)}
    assert ("hashlib", "file_digest") in uses  # rotnet/models/saved.py: the scan sees what it must
    needed = max(NEEDS[f] for f in uses)
    why = ", ".join(f"{m}.{n or ''} ({where})" for (m, n), where in uses.items() if NEEDS[(m, n)] == needed)
    assert required_python() >= needed, f"pyproject.toml requires-python is below {needed}, which {why} need"


def test_the_interpreter_and_ruff_target_match_requires_python():
    required = required_python()
    assert sys.version_info[:2] >= required
    assert project()["tool"]["ruff"]["target-version"] == f"py{required[0]}{required[1]}"


def test_the_scan_finds_each_way_of_using_a_feature(tmp_path):
    code = tmp_path / "m.py"
    code.write_text("import tomllib\nimport hashlib\nfrom datetime import UTC\nhashlib.file_digest\nos.path\n")
    assert used_features(code) == {("tomllib", None), ("hashlib", "file_digest"), ("datetime", "UTC")}
