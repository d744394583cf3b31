"""The package's layers: no module imports a higher layer, so a stage's code deps (its import
closure, dvc.yaml) hold only what it runs, and an edit reruns only the stages that run it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rotnet.stages.table import STAGES
from tests.stages.imports import ROOT, import_closure, python_files

# Bottom up: a module may import its own layer and those below. Every top-level module and
# package of rotnet/ has one; the stage scripts (stages/) and benchmarks/ sit on top.
LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "paths", "progress", "rotation", "code_deps", "seeds", "corruption_names"), 1),
    **dict.fromkeys(("atomic", "locks"), 2),
    "models": 3,
    "params": 4,
    "data": 5,
    **dict.fromkeys(("training", "inference"), 6),
    **dict.fromkeys(("probing", "report", "methods"), 7),
    **dict.fromkeys(("stages", "ablations", "profiles", "data_add"), 8),
    "cli": 9,
}
SCRIPTS = {"stages": 8, "benchmarks": 9}  # top-level folders of scripts, outside the package


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def project_files() -> list[Path]:
    folders = ("rotnet", *SCRIPTS)
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in its body (function-level imports run too):
    ``from a import b`` counts as a.b, since b may be a module."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> tuple[str, int] | None:
    """(layer name, rank) of a project module; None outside the project (or the bare package)."""
    parts = module.split(".")
    if parts[0] in SCRIPTS:
        return parts[0], SCRIPTS[parts[0]]
    if parts[0] != "rotnet" or len(parts) == 1:
        return None
    if parts[1] not in LAYERS:
        pytest.fail(
            f"rotnet.{parts[1]} has no layer: add it to LAYERS in tests/test_layers.py (and to the layer "
            "order in the docs), at the lowest layer whose modules it imports"
        )
    return parts[1], LAYERS[parts[1]]


def test_every_layer_entry_is_a_module_or_package_of_rotnet():
    for name in LAYERS:
        assert (ROOT / "rotnet" / f"{name}.py").is_file() or (ROOT / "rotnet" / name).is_dir(), name


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in project_files():
        own = layer_of(module_name(path))
        for module in sorted(imports(path)):
            target = layer_of(module)
            if own and target and target[1] > own[1]:
                where = f"{path.relative_to(ROOT)} ({own[0]}, layer {own[1]})"
                upward.append(f"{where} imports {module} (layer {target[1]})")
    assert upward == [], "imports that run upward:\n" + "\n".join(upward)


def test_the_layer_check_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    """The scan itself: an upward import inside a function, or a relative one, is found."""
    package = tmp_path / "rotnet" / "models"
    package.mkdir(parents=True)
    module = package / "bad.py"
    module.write_text("def f():\n    from rotnet.probing.heads import x\n    from ..data import prepare\n")
    monkeypatch.setattr("tests.test_layers.ROOT", tmp_path)
    assert imports(module) == {"rotnet.probing.heads.x", "rotnet.data.prepare"}
    with pytest.raises(pytest.fail.Exception, match=r"rotnet.newthing has no layer: add it to LAYERS"):
        layer_of("rotnet.newthing.x")


# The training stages and prepare: a change to the CIFAR-10-C code must not rerun them.
CORRUPTIONS = Path("rotnet/data/corruptions.py")


@pytest.mark.parametrize("stage", ["prepare", "supervised", "pretrain", "probe"])
def test_corruption_code_is_no_dep_of_prepare_or_training(stage):
    import yaml

    spec = next(s for s in STAGES if s.name == stage)
    assert CORRUPTIONS not in import_closure(ROOT / spec.script)
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    declared = set().union(*(python_files(Path(d)) for d in deps if "$" not in d))
    assert CORRUPTIONS not in declared


def test_robustness_does_depend_on_the_corruption_code():
    """The path above is the one dvc.yaml lists (else the test before could not fail)."""
    spec = next(s for s in STAGES if s.name == "robustness")
    assert CORRUPTIONS in import_closure(ROOT / spec.script)


# One job per module: a module past this many lines does several (the params schema is one
# typed table of every knob, and stays whole).
MAX_LINES = 400
LONG_ALLOWED = {"rotnet/params.py"}


def test_no_module_of_the_package_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "rotnet").rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= LONG_ALLOWED, (
        f"split these by job (lines): { {k: v for k, v in long.items() if k not in LONG_ALLOWED} }"
    )


# The stage package's plumbing, which every stage shares: the table and the entry point.
STAGE_PLUMBING = {"rotnet.stages.table", "rotnet.stages.entry", "rotnet.stages"}


def test_stages_never_import_stages():
    found = {}
    for path in sorted((ROOT / "rotnet" / "stages").glob("*.py")):
        me = module_name(path)
        if me in STAGE_PLUMBING:
            continue
        # `from rotnet.stages.x import y` reads as rotnet.stages.x.y: the stage module is rotnet.stages.x
        named = {".".join(m.split(".")[:3]) for m in imports(path) if m.startswith("rotnet.stages.")}
        others = named - STAGE_PLUMBING - {me}
        if others:
            found[me] = sorted(others)
    assert not found, f"a stage imports another stage; move what they share to a lower layer: {found}"
