"""Reading what the stages wrote in the tiny study (``tiny_study.repo``), and running a stage's
``main`` on bad input in a throw-away project: the helpers of the per-stage test files."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from rotnet import paths
from tests.synthetic import save_project_data

BACKBONE = "nin"  # the tiny study's one backbone


def read_json(repo: Path, rel: Path | str) -> Any:
    return json.loads((repo / rel).read_text())


def metrics(study: Any, kind: str, dataset: str, backbone: str = BACKBONE) -> dict[str, Any]:
    return read_json(study.repo, paths.metrics_file(kind, dataset, backbone))


def record(study: Any, kind: str, dataset: str, backbone: str = BACKBONE) -> dict[str, Any]:
    return read_json(study.repo, paths.record_file(kind, dataset, backbone))


def datasets(study: Any) -> list[str]:
    return list(study.params["study"]["datasets"])


def seeds(study: Any) -> list[int]:
    return list(study.params["study"]["seeds"])


def is_accuracy(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100


def seed_folders(study: Any, kind: str, dataset: str, backbone: str | None = BACKBONE) -> dict[str, Path]:
    """seeds/index.json of a stage instance: training seed -> the folder of its outputs."""
    index = read_json(study.repo, paths.seeds_dir(kind, dataset, backbone) / "index.json")
    return {seed: study.repo / folder for seed, folder in index["seeds"].items()}


def assert_averaged_over_seeds(figures: dict[str, Any], seed_list: list[int], *keys: str) -> None:
    """With several seeds a metrics file holds the mean at each key, its std under ``std``, and the seeds."""
    assert figures["seeds"] == seed_list
    for key in keys:
        assert is_accuracy(figures[key]), key
        assert isinstance(figures["std"][key], float) and figures["std"][key] >= 0, key


def stage_error(
    main: Callable[[Sequence[str]], None],
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    params: dict[str, Any] | None = None,
    data: bool = True,
) -> str:
    """Run ``main(argv)`` in a fresh project under ``tmp_path`` (a synthetic prepared cifar10
    when ``data``) with ``params`` as params.yaml; assert it exits with status 2, the status of
    an input error, without a traceback; return its message (from ``error: `` on)."""
    monkeypatch.chdir(tmp_path)
    if data:
        save_project_data(48, 16, 16)
    base = {"runtime": {"device": "cpu"}, "backbones": {"nin": {"width": 8}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**base, **(params or {})}))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("error: "))  # after any progress lines
    return "".join(lines[first:])
