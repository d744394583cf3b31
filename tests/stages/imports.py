"""Each stage's code deps for dvc.yaml: its script's import closure (rotnet.code_deps),
collapsed to folders where a folder's every file is needed."""

from __future__ import annotations

from pathlib import Path

from rotnet.code_deps import import_closure, imported_modules, module_file

__all__ = ["collapse", "import_closure", "imported_modules", "module_file", "python_files", "rewrite_code_deps"]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "rotnet"


def python_files(path: Path) -> set[Path]:
    """A declared dep as the project .py files it covers (a folder: all of them)."""
    full = ROOT / path
    if full.is_dir():
        return {p.relative_to(ROOT) for p in full.rglob("*.py") if "__pycache__" not in p.parts}
    return {path} if path.suffix == ".py" else set()


def collapse(files: set[Path]) -> list[str]:
    """The shortest dvc.yaml deps list for ``files``: a folder where all its .py files are needed."""
    out: set[Path] = set(files)
    for folder in sorted({p.parent for p in files}, key=lambda p: len(p.parts)):
        covered = python_files(folder)
        if folder != Path(".") and covered and covered <= files and not any(f in out for f in folder.parents):
            out = (out - covered) | {folder}
    return sorted(str(p) for p in out)


def is_code(dep: str) -> bool:
    return dep.startswith((f"{PACKAGE}/", "stages/")) or dep == PACKAGE


def rewrite_code_deps(text: str, closures: dict[str, list[str]]) -> str:
    """dvc.yaml ``text`` with each stage's code deps replaced by ``closures[stage]``, in
    place of its first code dep; every other line stays as written."""
    out: list[str] = []
    stage, in_deps, written = None, False, False
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith("  ") and not line.startswith("   ") and stripped.split("#")[0].strip().endswith(":"):
            stage, in_deps, written = stripped.split(":")[0], False, False
        elif line.startswith("    ") and not line.startswith("     "):
            in_deps = stripped == "deps:"
        elif in_deps and stripped.startswith("- ") and is_code(stripped[2:]) and stage in closures:
            if not written:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(f"{indent}- {dep}" for dep in closures[stage])
                written = True
            continue
        out.append(line)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # Print each stage's code deps, ready for dvc.yaml; --write puts them into dvc.yaml.
    import sys

    from rotnet.stages.table import STAGES

    closures = {spec.name: collapse(import_closure(ROOT / spec.script)) for spec in STAGES}
    if "--write" in sys.argv[1:]:
        dvc_yaml = ROOT / "dvc.yaml"
        dvc_yaml.write_text(rewrite_code_deps(dvc_yaml.read_text(), closures))
    else:
        for name, deps in closures.items():
            print(f"{name}:")
            for dep in deps:
                print(f"      - {dep}")
