"""make stage-pass's plan: what each stage reads is what dvc.yaml says it reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.stage_pass_plan import NEEDS
from rotnet.stages.table import STAGES

ROOT = Path(__file__).resolve().parents[2]


def test_needs_are_the_stages_that_dvc_yaml_says_each_reads():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert set(NEEDS) == set(dvc) == {s.name for s in STAGES}
    for name, stage in dvc.items():
        reads: set[str] = set()
        for dep in stage["deps"]:
            if dep.startswith("data/prepared"):
                reads.add("prepare")
            elif dep in ("models", "metrics/runs"):
                reads.add("*")
            elif dep.startswith("models/"):
                reads.add(dep.split("/")[3])  # models/<dataset>/<backbone>/<stage>/...
        assert ({"*"} if "*" in reads else reads) == set(NEEDS[name]), name
