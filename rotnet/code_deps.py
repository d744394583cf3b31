"""The project code a script runs: its static import closure inside the project, and a hash
of it.

Every project module a script imports, directly or not, counts, including imports inside
functions (they run too, just later). dvc.yaml lists each stage's closure as its code deps
(tests/stages/imports.py writes them), and a resumable checkpoint records its hash, so a
killed run never resumes under other code than the code that started it.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: rotnet/ and stages/ live here
PACKAGE = "rotnet"


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of project module ``name`` (a package's __init__.py), or None."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(name: str) -> list[str]:
    # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Project modules that ``path`` imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c` imports a.b, and a.b.c too when c is a submodule.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name.split(".")[0] == PACKAGE:
                found.update(m for m in _with_parents(name) if module_file(m, root) is not None)
    return found


def import_closure(script: Path, root: Path = ROOT) -> set[Path]:
    """``script`` and every project file it imports, directly or not, relative to ``root``."""
    seen: set[Path] = {script.resolve()}
    todo = [script.resolve()]
    while todo:
        for name in imported_modules(todo.pop(), root):
            file = module_file(name, root)
            if file is not None and file.resolve() not in seen:
                seen.add(file.resolve())
                todo.append(file.resolve())
    return {p.relative_to(root.resolve()) for p in seen}


def code_hash(script: Path, root: Path = ROOT) -> str:
    """sha256 over the paths and bytes of ``script``'s import closure: any edit to code the
    script runs changes it; edits elsewhere do not."""
    digest = hashlib.sha256()
    for rel in sorted(import_closure(script, root)):
        digest.update(str(rel).encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return digest.hexdigest()
