"""Tests mirror the package: every module rotnet/x/y.py has its own test file tests/x/test_y.py
(rotnet/y.py: tests/test_y.py), which tests it directly, by behaviour."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO_ROOT

# Modules without their own test file, and why (module -> reason). Empty: every module has
# one. A new module gets its test file, not an entry here.
NOT_YET_MIRRORED: dict[str, str] = {}


def mirror(module: Path) -> Path:
    """rotnet/x/y.py -> tests/x/test_y.py."""
    parts = module.relative_to("rotnet").parts
    return Path("tests", *parts[:-1], f"test_{parts[-1]}")


def modules() -> list[Path]:
    return sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "rotnet").rglob("*.py") if p.name != "__init__.py")


def test_mirror_names_the_test_file_of_a_module():
    assert mirror(Path("rotnet/paths.py")) == Path("tests/test_paths.py")
    assert mirror(Path("rotnet/data/cifar.py")) == Path("tests/data/test_cifar.py")


def test_every_module_has_its_mirror_test_file():
    missing = [str(m) for m in modules() if not (REPO_ROOT / mirror(m)).is_file()]
    unexplained = sorted(set(missing) - set(NOT_YET_MIRRORED))
    assert not unexplained, f"modules without their mirror test file (tests/x/test_y.py): {unexplained}"


def test_the_allow_list_names_only_modules_still_without_a_mirror():
    stale = [m for m in NOT_YET_MIRRORED if not (REPO_ROOT / m).is_file() or (REPO_ROOT / mirror(Path(m))).is_file()]
    assert not stale, f"remove from NOT_YET_MIRRORED (gone, or mirrored now): {stale}"
