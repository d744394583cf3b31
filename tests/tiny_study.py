"""The tiny study: the real DAG under `dvc repro` in a temporary git repo, on tiny settings.

Built once per test session (the `tiny_study` fixture in tests/conftest.py); every end-to-end
test reads it or works in a clone of it, so the suite pays for one run of the DAG.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from tests.conftest import tools_env

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "ship"]
SEEDS = (0, 1)
DATASETS = ("cifar10", "fashion_mnist")
GIT_USER = ["-c", "user.name=t", "-c", "user.email=t@t"]


def draw_image_folder(root: Path) -> None:
    """A 3-class image folder whose classes and orientation can be learnt from a bar."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 12)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
                img[: 4 + 6 * c, 4:28, c] = 230  # class and orientation cue
                Image.fromarray(img).save(folder / f"{i:03d}.png")


def write_fashion_idx(folder: Path) -> None:
    from tests.data.test_fashion import make_idx_folder

    rng = np.random.default_rng(1)
    make_idx_folder(
        folder,
        arrays={
            "train-images-idx3-ubyte": rng.integers(0, 256, (120, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": (np.arange(120) % 10).astype(np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": (np.arange(40) % 10).astype(np.uint8),
        },
    )


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # One backbone (the stages are the same code for every backbone; the zoo and stage tests
    # cover the others), two datasets: an image folder and Fashion-MNIST's IDX files.
    params["study"]["backbones"] = ["nin"]
    params["study"]["datasets"] = list(DATASETS)
    params["study"]["seeds"] = list(SEEDS)  # every stage with several training seeds
    params["datasets"]["fashion_mnist"].update(source="idx", val_size=30, keep_first_per_class=4)
    params["runtime"].update(device="cpu", eval_batch_size=128)
    params["datasets"]["cifar10"].update(source="imagefolder", val_size=30, keep_first_per_class=4)
    params["backbones"] = {"nin": {"blocks": 4, "width": 16}}
    for stage in ("supervised", "pretrain", "probe", "finetune"):
        params[stage].update(epochs=2, batch_size=30)
        params[stage]["schedule"]["milestones"] = [1]
    params["probe"]["hidden"] = 32
    params["supervised_rot"].update(epochs=2, batch_size=30)
    params["supervised_rot"]["schedule"]["milestones"] = [1]
    params["robustness"].update(corruptions=["gaussian_noise", "contrast"], severities=[5])
    params["probe"]["head_milestones"] = {"nonlinear": [1]}
    params["control"]["inits"] = ["random"]  # the supervised control runs in tests/stages/test_stage_runs.py
    # A quarter of B0's channels: its full width costs as much as the rest of a seed's DAG.
    params["backbones"]["efficientnet_b0"] = {"small_input": "stride", "width_multiplier": 0.25}
    params["backbones"]["efficientnet_b0_upsample"] = {
        "arch": "efficientnet_b0",
        "small_input": "upsample",
        "upsample_size": 64,
        "width_multiplier": 0.25,
    }
    params["small_input"].update(epochs=1, batch_size=30)
    params["semisup"]["labels_per_class"] = [4]
    params["backbones"]["nin3"] = {"arch": "nin", "blocks": 3, "width": 16}
    for arm in ("scratch", "rotnet"):
        params["semisup"][arm].update(epochs=2, batch_size=12, epoch_size=36)
        params["semisup"][arm]["schedule"]["milestones"] = [1]
    params["small_input"]["schedule"]["warmup_epochs"] = 0
    # RotNet, SimCLR and BYOL on the one backbone, each probed and pictured (t-SNE).
    params["study"]["methods"] = ["simclr", "byol"]
    for method in ("simclr", "byol"):
        params[method].update(epochs=2, batch_size=30, projector_hidden=32, projector_out=16)
    params["byol"]["predictor_hidden"] = 32
    params["probe"]["tsne_images"] = 30
    params["finetune"]["methods"] = ["simclr"]  # ssl_finetune on one method: BYOL runs the same code
    params["semisup"]["methods"] = ["simclr"]  # ssl_semisup likewise
    return params


def run(cmd: list[str], cwd: Path, timeout: float = 600) -> str:
    """Run ``cmd`` with this environment's dvc and python (dvc.yaml's `python`); assert it
    succeeded and return its stdout and stderr."""
    env = tools_env(PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", *GIT_USER, "commit", "-qm", message], repo)


@dataclass(frozen=True)
class TinyStudy:
    """A git + DVC repo where the tiny study ran (`dvc repro`) and was committed.

    Never modify ``repo``: tests that change anything work in a ``clone``.
    """

    repo: Path
    data: Path  # the image folder added as data/raw/cifar10
    fashion: Path  # the IDX folder added as data/raw/fashion_mnist
    params: dict  # what params.yaml holds
    repro_output: str  # stdout and stderr of the first `dvc repro`

    def run(self, cmd: list[str], cwd: Path, timeout: float = 600) -> str:
        return run(cmd, cwd, timeout)

    def clone(self, dest: Path) -> Path:
        """A git clone of the study at ``dest`` that shares its DVC cache, outputs checked out.
        Checkpoints, logs and the run cache's history stay behind (they are not DVC outputs)."""
        run(["git", "clone", "-q", str(self.repo), str(dest)], dest.parent)
        run(["dvc", "cache", "dir", "--local", str(self.repo / ".dvc" / "cache")], dest)
        run(["dvc", "checkout", "-q"], dest)
        return dest


def build(root: Path) -> TinyStudy:
    """Write the inputs and the project into ``root``, run the DAG and commit the run."""
    data, fashion, repo = root / "images", root / "fashion", root / "study"
    draw_image_folder(data)
    write_fashion_idx(fashion)
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore", ".gitignore", "requirements.lock"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("stages", "rotnet", "benchmarks/results"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = tiny_params()
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    for dataset, source in (("cifar10", data), ("fashion_mnist", fashion)):  # as the README adds data
        run(["python", "-m", "rotnet.cli", "data", "add", dataset, str(source)], repo)
    commit(repo, "tiny study")
    output = run(["dvc", "repro"], repo, timeout=1800)  # CI runs it alone in ~2 min; loaded machines take longer
    commit(repo, "tiny study run")
    return TinyStudy(repo=repo, data=data, fashion=fashion, params=params, repro_output=output)
