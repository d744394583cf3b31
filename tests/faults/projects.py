"""Tiny projects the fault tests run stages in (a stage reads params.yaml from its
folder), and what the tests look for afterwards."""

from __future__ import annotations

import runpy
from pathlib import Path

import yaml

from rotnet.data.prepared import save_prepared
from tests.data.test_fashion import make_idx_folder
from tests.report import study
from tests.synthetic import dataset

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["stages/supervised.py", "--dataset", "cifar10", "--backbone", "nin"]
CKPT = "checkpoints/cifar10/nin/supervised/last.pt"
MODEL = "models/cifar10/nin/supervised/model.pt"


def run_here(monkeypatch, root: Path, argv: list[str]) -> None:
    """Run a stage in this process (quicker than a child), from the project ``root``."""
    monkeypatch.chdir(root)
    monkeypatch.setattr("sys.argv", [argv[0], *argv[1:]])
    runpy.run_path(str(ROOT / argv[0]), run_name="__main__")


def leftovers(folder: Path) -> list[str]:
    """What writers left behind in ``folder`` (temporary copies, swapped-out folders)."""
    return sorted(p.name for p in folder.rglob("*") if ".rotnet-" in p.name)


def write_params(root: Path, **sections) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(sections))


def prepare_project(root: Path, seed: int) -> None:
    make_idx_folder(root / "data/raw/fashion/idx", gz=False)  # as `rotnet data add fashion idx` leaves it
    write_params(
        root,
        seed=seed,
        study={"datasets": ["fashion"], "backbones": ["nin"]},
        datasets={"fashion": {"source": "idx", "val_size": 10}},
    )


def training_project(root: Path, seed: int) -> None:
    if not (root / "data/prepared/cifar10").exists():
        data = dataset(n_train=128, n_val=32, n_test=32)
        splits = {"train": data.train, "val": data.val, "test": data.test}
        save_prepared(root / "data/prepared/cifar10", splits, data.meta)
    write_params(
        root,
        seed=seed,
        study={"datasets": ["cifar10"], "backbones": ["nin"], "seeds": [seed]},
        runtime={"device": "cpu", "checkpoint_every": 1, "eval_batch_size": 64},
        backbones={"nin": {"width": 8}},
        supervised={"epochs": 3, "batch_size": 32, "schedule": {"milestones": []}},
    )


def study_project(root: Path) -> None:
    params = study.make_params(datasets=("cifar10",))  # one dataset: all the report draws, half the time
    study.write_study(root, params)
    write_params(root, **params.model_dump(mode="json"))
