"""End to end: the real DAG under `dvc repro` in a temporary git repo, on tiny settings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import tools_env
from tests.tiny_study import DATASETS, SEEDS
from tests.tiny_study import commit as _commit
from tests.tiny_study import run as _run

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("needs_dvc")


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def _restored(output: str) -> set[str]:
    return set(re.findall(r"Stage '([^']+)' is cached", output))


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_of_the_study(tiny_study):
    first, repo, data, fashion = tiny_study.repro_output, tiny_study.repo, tiny_study.data, tiny_study.fashion
    datasets = ("cifar10", "fashion_mnist")
    expected = {"report"} | {f"{k}@{d}" for k in ("prepare", "small_input") for d in datasets}
    expected |= {f"semisup@{d}-nin" for d in datasets} | {f"baseline@{d}-nin3" for d in datasets}
    expected |= {
        f"{k}@{d}-{b}"
        for k in ("supervised", "supervised_rot", "pretrain", "probe", "control", "robustness")
        for d in datasets
        for b in ("nin",)
    }
    expected |= {f"finetune@{d}-nin-{head}" for d in datasets for head in ("conv", "nonlinear")}  # finetune.heads
    # SimCLR and BYOL beside RotNet (study.methods): each its pretraining and its probe.
    methods = ("simclr", "byol")
    expected |= {f"{k}@{d}-nin-{m}" for k in ("ssl_pretrain", "ssl_probe") for d in datasets for m in methods}
    # Fine-tuned and the few-labels arms for SimCLR alone (finetune.methods, semisup.methods).
    expected |= {f"ssl_finetune@{d}-nin-simclr-{head}" for d in datasets for head in ("conv", "nonlinear")}
    expected |= {f"ssl_semisup@{d}-nin-simclr" for d in datasets}
    assert _ran(first) == expected

    report = (repo / "metrics" / "report.md").read_text()
    assert "## GPU check (`make gpu-check`)" in report  # the newest committed gpu-check result
    assert "| nin |" in report and "| block2 |" in report and "| block4 |" in report
    assert "89.06" in report and "91.16" in report  # paper figures for NIN block 2 (non-linear, conv)
    assert "finetuned test" in report and "92.17" in report and "91.73" in report  # both fine-tuned rows
    assert "### Rotations as extra supervision, clean and corrupted" in report
    assert "2 corruptions x 1 severities (gaussian_noise, contrast)" in report
    assert "| efficientnet_b0_upsample | efficientnet_b0 | upsample x2 (32 -> 64) |" in report
    rows = (repo / "metrics" / "report.csv").read_text().splitlines()
    # supervised, rotation, finetune conv and nonlinear, 4 layers x (2 heads + kNN), + the conv
    # head on NIN block 2; the same heads and kNN for the random-init control; the nin3
    # baseline; supervised+rot
    # per method (SimCLR, BYOL): its kNN monitor, then the probe's heads and kNN as RotNet's
    # (+ SimCLR's two fine-tuned heads)
    per_dataset = (4 + 4 * 2 + 4) + 1 + (4 * 2 + 4 + 1) + 1 + 1 + 2 * (1 + 4 * 2 + 1 + 4) + 2
    assert len(rows) == 1 + 2 * per_dataset
    assert "| random init + conv head (block 2) | 72.50 |" in report and "3-block NIN (nin3)" in report
    # A section per dataset, each labelled with the data it was measured on.
    # IDX files of other images are not the official Fashion-MNIST; both carves are below the default.
    # The source as the project holds it (data/raw/<dataset>, `rotnet data add`): no path of this machine.
    assert f"## cifar10: image folder data/raw/cifar10/{data.name}; validation 30 images (default 5,000)" in report
    assert f"## fashion_mnist: Fashion-MNIST format, from data/raw/fashion_mnist/{fashion.name}; validation" in report
    assert str(data.parent) not in report
    fashion_section = report.split("## fashion_mnist")[1].split("\n## ")[0]
    assert "89.06" not in fashion_section  # the paper's CIFAR-10 figures stay out of other datasets
    assert (repo / "metrics" / "report.png").stat().st_size > 1000
    # The HTML report opens with its images: every image it references exists.
    html = (repo / "metrics" / "report.html").read_text()
    sources = re.findall(r'<img[^>]* src="([^"]+)"', html)
    # probe plot + semi-supervised, curves, confusion, samples and the t-SNE of RotNet, SimCLR, BYOL per dataset
    assert len(sources) == 1 + 5 * 2
    assert all((repo / "metrics" / src).is_file() for src in sources)
    assert "<table>" in html and "Training curves" in report and "Best classifier" in report
    # The methods compared, per map (same heads and kNN), then epochs, cost and the peers' figures.
    assert "| layer | RotNet probe | SimCLR probe | BYOL probe | random init probe |" in report
    assert "| nin | SimCLR | 2 |" in report and "| nin | BYOL | 2 |" in report
    assert "Few labels (semisup's pretrained arms on each method's backbone" in report
    assert "lightly 200 ep" in report.split("## fashion_mnist")[0] and "lightly 200 ep" not in fashion_section
    assert "![t-SNE, nin](report_files/cifar10_nin_tsne.png)" in report
    tsne = json.loads((repo / "models/cifar10/nin/ssl_probe/byol/tsne.json").read_text())
    assert tsne["images"] == 30 and len(tsne["x"]) == len(tsne["labels"]) == 30
    summary = json.loads((repo / "metrics/summary.json").read_text())["cifar10"]["nin"]
    assert {"simclr_knn", "simclr_probe", "byol_knn", "byol_probe"} <= set(summary)
    semisup = json.loads((repo / "metrics/runs/cifar10/nin/semisup.json").read_text())
    assert list(semisup["points"]) == ["4"]
    assert all(0 <= p[arm]["test_acc"] <= 100 for p in semisup["points"].values() for arm in ("scratch", "rotnet"))
    assert "| nin | 4 |" in report and "fig. 5b re-run RotNet" in report
    probe = json.loads((repo / "metrics/runs/cifar10/nin/probe.json").read_text())
    assert set(probe["layers"]) == {"block1", "block2", "block3", "block4"}
    # Metrics hold results; how the run went is in the run record beside the model.
    assert "recipe" not in probe and "wall_time_s" not in probe
    record = json.loads((repo / "models/cifar10/nin/probe/run.json").read_text())
    assert record["recipe"]["optimizer"] == "sgd" and record["recipe"]["schedule"] == "step"
    assert record["wall_time_s"] > 0 and record["layers"]["block2"]["conv"]["best_epoch"] >= 1
    assert (repo / "models/cifar10/nin/supervised_rot/model.pt").is_file()
    assert list((repo / "logs/cifar10/nin/pretrain").glob("events.out.tfevents.*"))
    # TensorBoard has every training stage: those with several fits log each under its part.
    for stage in ("nin/control", "nin/semisup", "small_input"):
        parts = [p for p in (repo / "logs/cifar10" / stage).iterdir() if p.is_dir()]
        assert parts and all(list(p.glob("events.out.tfevents.*")) for p in parts), stage
    assert (repo / "checkpoints/cifar10/nin/pretrain/seed0-last.pt").is_file()  # resume state, outside DVC's outputs
    _check_every_stage_ran_every_seed(repo, datasets)


@pytest.mark.slow
def test_a_clone_reruns_only_what_changed(tiny_study, tmp_path):
    repo = tiny_study.clone(tmp_path / "clone")
    datasets = DATASETS
    again = _run(["dvc", "repro"], repo)
    assert _ran(again) == set()

    # `dvc repro` killed while a stage runs: DVC had removed the stage's outputs first; the
    # README's command brings back the last good version from DVC's cache.
    html = (repo / "metrics" / "report.html").read_bytes()
    _kill_while_running(
        ["dvc", "repro", "--force", "--single-item", "report"], repo, gone=repo / "metrics" / "report.html"
    )
    assert not (repo / "metrics" / "report.html").exists()
    _repair_rwlock(repo)
    _run(["dvc", "checkout", "--force", "report"], repo)
    assert (repo / "metrics" / "report.html").read_bytes() == html
    # The first line is the status; DVC may add a warning that it cleared the killed run's lock entry.
    assert json.loads(_run(["dvc", "status", "--json"], repo).splitlines()[0]) == {}

    # Editing code used by one stage family changes those stages alone.
    small_input_code = repo / "rotnet/stages/small_input.py"
    small_input_code.write_text(small_input_code.read_text() + "\n# an edit\n")
    status = json.loads(_run(["dvc", "status", "--json"], repo))
    assert set(status) == {f"small_input@{d}" for d in datasets}
    _run(["git", "checkout", "--", "rotnet/stages/small_input.py"], repo)
    assert json.loads(_run(["dvc", "status", "--json"], repo)) == {}

    # A change to SimCLR's recipe touches SimCLR's pretraining alone (its probe follows its model):
    # not BYOL's, not RotNet's, not the controls.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["simclr"]["temperature"] = 0.4
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(_run(["dvc", "status", "--json"], repo))
    assert set(status) == {f"ssl_pretrain@{d}-nin-simclr" for d in datasets}, status
    _run(["git", "checkout", "--", "params.yaml"], repo)

    # A queued variant runs in a fresh temporary copy of the project: only the semi-supervised
    # stages (the one stage family that reads `semisup`) and the report rerun, not the RotNets
    # they start from.
    semisup = {f"semisup@{d}-nin" for d in datasets}
    variant = "semisup.labels_per_class=[3]"
    _add_remote(repo, tmp_path)  # experiments push their outputs to the remote their commit names
    _run(["dvc", "exp", "run", "--queue", "--name", "fewer-labels", "-S", variant], repo)
    _run(["dvc", "queue", "start", "-j", "1"], repo)
    _wait_for_queue(repo)
    queued = _run(["dvc", "queue", "logs", "fewer-labels"], repo)
    # (and the few-labels arms on SimCLR's backbone: semisup.methods)
    assert _ran(queued) == semisup | {f"ssl_semisup@{d}-nin-simclr" for d in datasets} | {"report"}, queued

    # What this clone made travels through a DVC remote and a bare git repo (folders here; S3
    # or SSH alike): another clone pulls the study and the queued variant, and reruns nothing.
    _share_and_pull(repo, tmp_path, "fewer-labels", tiny_study.data)

    # The queued variant applied in the workspace: its outputs come from DVC's cache.
    applied = _run(["dvc", "exp", "apply", "fewer-labels"], repo)
    assert _ran(applied) == set(), applied
    assert yaml.safe_load((repo / "params.yaml").read_text())["semisup"]["labels_per_class"] == [3]
    diff = json.loads(_run(["dvc", "metrics", "diff", "--json"], repo))
    # The semi-supervised files and the figures the report writes; nothing upstream.
    assert diff and all(f.endswith(("semisup.json", "summary.json")) or "/ssl_semisup/" in f for f in diff), list(diff)
    changed = {k for f in diff.values() for k in f}
    # Results only (accuracies per label count): no wall times, hosts or recipes.
    assert any(k.startswith("points.3.") for k in changed) and all("acc" in k for k in changed), changed

    shown = json.loads(_run(["dvc", "metrics", "show", "--json"], repo))
    values = _leaves(shown, skip=("std", "seeds"))
    # At most ~200 values per dataset (the quick profile has one dataset and one method; this
    # pipeline two of each), and with several seeds at most one std beside each.
    assert 50 < len(values) <= 200 * len(datasets), len(values)
    assert all(isinstance(v, (int, float, str)) for v in values)
    assert len(values) < len(_leaves(shown, skip=("seeds",))) <= 2 * len(values)


def _add_remote(repo: Path, tmp_path: Path) -> None:
    """A folder as the study's default DVC remote, committed (as docs/sharing.md sets one up),
    and a bare repository as its git origin."""
    _run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "remote")], repo)  # .dvc/config
    _commit(repo, "the study's DVC remote")
    _run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], tmp_path)
    _run(["git", "remote", "set-url", "origin", str(tmp_path / "origin.git")], repo)  # was the study


def _share_and_pull(repo: Path, tmp_path: Path, exp: str, data: Path) -> None:
    remote, origin, other = tmp_path / "remote", tmp_path / "origin.git", tmp_path / "elsewhere"
    _run(["git", "push", "-q", "origin", "HEAD"], repo)
    _run(["dvc", "push"], repo)
    _run(["dvc", "exp", "push", "origin", exp], repo)  # the experiment's git ref and its cache
    # The variant's own outputs reached the remote, not only the main line's.
    refs = _run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], repo).splitlines()
    ref = next(line.split()[1] for line in refs if line.split()[0].endswith(f"/{exp}"))
    lock = yaml.safe_load(_run(["git", "show", f"{ref}:dvc.lock"], repo))
    outs = [o for o in lock["stages"]["semisup@cifar10-nin"]["outs"] if o["path"].endswith("semisup.json")]
    md5 = outs[0]["md5"]
    assert (remote / "files" / "md5" / md5[:2] / md5[2:]).is_file()

    _run(["git", "clone", "-q", str(origin), str(other)], tmp_path)
    _run(["dvc", "pull"], other)
    assert json.loads(_run(["dvc", "status", "--json"], other).splitlines()[0]) == {}
    assert _ran(_run(["dvc", "repro"], other)) == set()
    for name in ("report.md", "report.csv", "summary.json"):
        assert (other / "metrics" / name).read_bytes() == (repo / "metrics" / name).read_bytes(), name
    # The input sits at another path on this machine: adding it again changes nothing, since
    # the study depends on its content (data/raw/cifar10.dvc), not on where a copy sat.
    moved = tmp_path / "moved" / data.name
    shutil.copytree(data, moved)
    added = _run([sys.executable, "-m", "rotnet.cli", "data", "add", "cifar10", str(moved)], other)
    assert "already holds" in added, added
    assert _run(["git", "status", "--porcelain"], other).strip() == ""
    assert json.loads(_run(["dvc", "status", "--json"], other).splitlines()[0]) == {}
    _run(["dvc", "exp", "pull", "origin", exp], other)
    assert exp in _run(["dvc", "exp", "list", "--name-only"], other).split()
    _run(["dvc", "exp", "apply", exp], other)
    assert yaml.safe_load((other / "params.yaml").read_text())["semisup"]["labels_per_class"] == [3]
    semisup = "metrics/runs/cifar10/nin/semisup.json"
    assert json.loads((other / semisup).read_text())["points"].keys() == {"3"}
    assert (other / "models/cifar10/nin/semisup/run.json").is_file()


def _check_every_stage_ran_every_seed(repo: Path, datasets: tuple[str, ...]) -> None:
    """Each stage of each dataset ran once per seed, and every choice on validation is one for
    all seeds: its figures over seeds are a fixed choice's, never a mix of choices."""
    seeds = [str(s) for s in SEEDS]
    for d in datasets:
        folders = [repo / "models" / d / "small_input"] + [
            repo / "models" / d / b / k
            for b, kinds in (
                ("nin", ("supervised", "supervised_rot", "pretrain", "probe", "control", "semisup")),
                ("nin", ("finetune/conv", "finetune/nonlinear")),  # one instance per finetune.heads
                ("nin", ("robustness",)),
                ("nin", ("ssl_pretrain/simclr", "ssl_pretrain/byol", "ssl_probe/simclr", "ssl_probe/byol")),
                ("nin", ("ssl_finetune/simclr-conv", "ssl_finetune/simclr-nonlinear", "ssl_semisup/simclr")),
                ("nin3", ("supervised",)),
            )
            for k in kinds
        ]
        for folder in folders:
            record = json.loads((folder / "run.json").read_text())
            assert list(record["per_seed"]) == seeds and record["seeds"] == list(SEEDS), folder
            assert [record["per_seed"][s]["training_seed"] for s in seeds] == list(SEEDS), folder
            assert set(json.loads((folder / "seeds" / "index.json").read_text())["seeds"]) == set(seeds), folder
        models = repo / "models" / d / "nin"
        trained = ("supervised", "supervised_rot", "pretrain", "finetune/conv", "finetune/nonlinear")
        for kind in (*trained, "ssl_pretrain/byol"):
            assert all((models / kind / "seeds" / s / "model.pt").is_file() for s in seeds), kind
        probe = json.loads((models / "probe/run.json").read_text())
        control = json.loads((models / "control/run.json").read_text())["per_seed"]
        semisup = json.loads((models / "semisup/run.json").read_text())["per_seed"]
        robust = json.loads((models / "robustness/run.json").read_text())["per_seed"]
        per_seed = probe["per_seed"]
        # One (layer, head), one kNN (k, T) per map and one semisup epoch per (K, arm) for all seeds.
        assert len({(per_seed[s]["best"]["layer"], per_seed[s]["best"]["head"]) for s in seeds}) == 1
        assert probe["best"]["layer"] == per_seed["0"]["best"]["layer"]  # not joined as "a|b"
        for layer in per_seed["0"]["knn"]:
            assert len({(per_seed[s]["knn"][layer]["k"], per_seed[s]["knn"][layer]["temperature"]) for s in seeds}) == 1
        assert len({control[s]["random"]["best"]["layer"] + control[s]["random"]["best"]["head"] for s in seeds}) == 1
        epochs = {
            tuple(a["best_epoch"] for a in (p["scratch"], p["rotnet"])) for s in seeds for p in semisup[s]["points"]
        }
        assert len(epochs) == 1
        assert probe["best"]["test_acc"] == pytest.approx(
            sum(per_seed[s]["best"]["test_acc"] for s in seeds) / 2, abs=0.01
        )
        assert [robust[s]["probe"]["clean_acc"] for s in seeds] == [per_seed[s]["best"]["test_acc"] for s in seeds]


def _kill_while_running(cmd: list[str], cwd: Path, gone: Path, timeout: float = 120) -> None:
    """Start ``cmd``; once ``gone`` has been removed (DVC clears a stage's outputs before
    running it), SIGKILL it and every process it started."""
    import os
    import signal
    import time

    env = tools_env(PYTHONDONTWRITEBYTECODE="1")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, **quiet)
    deadline = time.monotonic() + timeout
    while gone.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the stage ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _repair_rwlock(repo: Path) -> None:
    """What docs/operations.md says to do when the kill landed while DVC wrote its lock file
    in place (an empty .dvc/tmp/rwlock): delete it, as no DVC command runs."""
    rwlock = repo / ".dvc" / "tmp" / "rwlock"
    if rwlock.is_file():
        try:
            json.loads(rwlock.read_text())
        except ValueError:
            rwlock.unlink()


def _wait_for_queue(repo: Path, timeout: float = 300) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _run(["dvc", "queue", "status"], repo)
        if "Queued" not in status and "Running" not in status:
            assert "Failed" not in status, status
            return
        time.sleep(2)
    raise AssertionError(f"the queued experiment did not finish in {timeout} s")


def _leaves(tree, skip: tuple[str, ...] = ()) -> list:
    """Every value of a JSON tree, except those under the keys ``skip``."""
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() if k not in skip for leaf in _leaves(v, skip)]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in _leaves(v, skip)]
    return [tree]


def test_stage_script_reports_bad_params_without_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("supervised:\n  optimizer:\n    lr: -1\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "supervised.py"), "--dataset", "cifar10", "--backbone", "nin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "supervised.optimizer.lr" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "metrics").exists() and not (tmp_path / "models").exists()
