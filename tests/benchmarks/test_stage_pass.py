"""make stage-pass on the CPU: every stage's real code passes on tiny images; a failed stage
is recorded with its error, its dependents are skipped with the reason, the rest still run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from benchmarks import stage_pass, stage_pass_plan
from benchmarks.stage_pass import StageProcessError, run_script, run_stage_pass
from benchmarks.stage_pass_plan import Instance
from rotnet.data.raw import link_source
from rotnet.errors import RotnetError

ROOT = Path(__file__).resolve().parents[2]
# Every instance the pass runs, in the DAG's order (one dataset, NIN, the nin3 baseline, both finetune heads).
ORDER = [
    "prepare@cifar10",
    "supervised@cifar10-nin",
    "supervised_rot@cifar10-nin",
    "baseline@cifar10-nin3",
    "pretrain@cifar10-nin",
    "probe@cifar10-nin",
    "ssl_pretrain@cifar10-nin-simclr",  # the quick profile: SimCLR beside RotNet, probed, not fine-tuned
    "ssl_probe@cifar10-nin-simclr",
    "control@cifar10-nin",
    "finetune@cifar10-nin-conv",
    "finetune@cifar10-nin-nonlinear",
    "small_input@cifar10",
    "semisup@cifar10-nin",
    "robustness@cifar10-nin",
    "report",
]


def image_folder(root: Path, train: int = 8, test: int = 3, classes: int = 10) -> Path:
    """A tiny CIFAR-shaped image folder: a bar per class (its channel and length) from the top edge."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("test", test)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
                img[: 4 + 2 * c, 4:28, c % 3] = 230
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


@pytest.fixture
def tiny_params() -> dict:
    return stage_pass_plan.build_params(stage_pass_plan.pass_overrides("cpu", tiny=True))


def test_every_stage_passes_on_tiny_images_and_the_json_says_so(tmp_path, capsys):
    data = image_folder(tmp_path / "images")
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--tiny", "--device", "cpu", "--data", str(data), "--out", str(out), "--work", str(work)]
    assert stage_pass.main(argv) == 0
    files = list(out.glob("*.json"))
    assert len(files) == 1 and files[0].name.endswith("-cpu-1-threads.json")
    result = json.loads(files[0].read_text())
    assert [r["stage"] for r in result["stages"]] == ORDER
    assert [r["status"] for r in result["stages"]] == ["pass"] * len(ORDER), stage_pass.table(result)
    assert result["status"] == "pass" and result["counts"] == {"pass": len(ORDER), "error": 0, "skipped": 0}
    assert all(r["seconds"] > 0 for r in result["stages"])
    # Each training stage's run record names the device it ran on; prepare and report train nothing.
    devices = {r["stage"]: r["device"] for r in result["stages"]}
    assert devices.pop("prepare@cifar10") is None and devices.pop("report") is None
    assert set(devices.values()) == {"CPU (1 threads)"} == {result["device"]}
    assert result["overrides"]["pretrain.epochs"] == 1 and result["overrides"]["backbones.nin.width"] == 8
    # The stages wrote where a checkout's would: the report read them all.
    assert "block2" in (work / "metrics" / "report.md").read_text()
    assert (work / "models/cifar10/nin/finetune/nonlinear/run.json").is_file()
    printed = capsys.readouterr().out
    assert f"{len(ORDER)} stages: {len(ORDER)} pass, 0 error, 0 skipped" in printed and str(files[0]) in printed


def test_a_failed_stage_is_recorded_its_dependents_skipped_and_the_others_run(tmp_path, tiny_params, monkeypatch):
    from rotnet.stages import pretrain

    def broken(params, dataset, backbone):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(pretrain, "run", broken)
    images = image_folder(tmp_path / "images")
    result = run_stage_pass(tiny_params, tmp_path / "work", images, say=lambda msg: None)
    rows = {r["stage"]: r for r in result["stages"]}
    assert list(rows) == ORDER
    failed = rows["pretrain@cifar10-nin"]
    assert failed["status"] == "error" and failed["error"]["type"] == "RuntimeError"
    assert failed["error"]["message"] == "CUDA error: an illegal memory access was encountered"
    assert any("raise RuntimeError" in line for line in failed["error"]["tail"])
    # What reads the RotNet is skipped, saying which input failed; the robustness stage also
    # names the probe it was skipped with.
    for name in (
        "probe@cifar10-nin",
        "finetune@cifar10-nin-conv",
        "finetune@cifar10-nin-nonlinear",
        "semisup@cifar10-nin",
    ):
        assert rows[name] == {
            "stage": name,
            "kind": name.split("@")[0],
            "status": "skipped",
            "reason": "reads the outputs of pretrain@cifar10-nin (error)",
        }
    assert "pretrain@cifar10-nin (error)" in rows["robustness@cifar10-nin"]["reason"]
    assert "probe@cifar10-nin (skipped)" in rows["robustness@cifar10-nin"]["reason"]
    assert rows["report"]["status"] == "skipped"
    # The stages that do not read it still ran, the supervised control among them.
    independent = ["prepare@cifar10", "supervised@cifar10-nin", "supervised_rot@cifar10-nin", "baseline@cifar10-nin3"]
    for name in [*independent, "control@cifar10-nin", "small_input@cifar10"]:
        assert rows[name]["status"] == "pass", name
    assert result["status"] == "error" and result["counts"] == {"pass": 8, "error": 1, "skipped": 6}
    assert "RuntimeError: CUDA error" in stage_pass.table(result)


def test_a_stage_script_that_fails_is_an_error_with_its_last_lines(tmp_path, tiny_params):
    # --isolate runs `python stages/<name>.py --params ...` as dvc.yaml does: prepare passes,
    # then the probe, with no RotNet to read, exits with the stage's own error message.
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(tiny_params))
    link_source("cifar10", image_folder(tmp_path / "images"), tmp_path / "data/raw/cifar10")
    with stage_pass.working_dir(tmp_path):
        run_script(Instance("prepare", "cifar10"), params_file, tmp_path / "logs", timeout_s=120)
        assert (tmp_path / "data/prepared/cifar10").is_dir()
        with pytest.raises(StageProcessError, match="stages/probe.py exited with status") as err:
            run_script(Instance("probe", "cifar10", "nin"), params_file, tmp_path / "logs", timeout_s=120)
    assert err.value.tail and "pretrain" in err.value.tail[-1]
    assert (tmp_path / "logs" / "probe@cifar10-nin.log").is_file()


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert stage_pass.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    with pytest.raises(RotnetError, match="not a key of params.yaml"):
        stage_pass_plan.build_params({"pretrain.epoch": 1})
    with pytest.raises(RotnetError, match="--set"):
        stage_pass_plan.parse_set(["backbones.nin.width"])
    assert stage_pass_plan.parse_set(["probe.knn_k=[3, 5]"]) == {"probe.knn_k": [3, 5]}
