"""dvc.yaml and rotnet/paths.py must agree on where each stage writes."""

from pathlib import Path

import yaml

from rotnet import paths

ROOT = Path(__file__).resolve().parents[1]


def _resolve(text: str, dataset: str, backbone: str) -> str:
    return text.replace("${item.dataset}", dataset).replace("${item.backbone}", backbone)


def test_dvc_outputs_match_the_package_paths():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    ds, bb = "cifar10", "nin"
    assert _resolve(stages["prepare"]["outs"][0], ds, bb) == str(paths.prepared_dir(ds))
    for kind in ("supervised", "pretrain", "probe", "finetune"):
        st = stages[kind]
        outs = {_resolve(o if isinstance(o, str) else next(iter(o)), ds, bb) for o in st["outs"]}
        assert str(paths.model_dir(kind, ds, bb)) in outs
        assert str(paths.logs_dir(kind, ds, bb)) in outs
        assert str(paths.checkpoint_file(kind, ds, bb).parent) in outs
        persisted = [o for o in st["outs"] if isinstance(o, dict)]
        assert persisted and all(v["persist"] for o in persisted for v in o.values())
        assert _resolve(st["metrics"][0], ds, bb) == str(paths.metrics_file(kind, ds, bb))
        assert _resolve(next(iter(st["plots"][0])), ds, bb) == str(paths.history_file(kind, ds, bb))
        assert f"stages/{kind}.py" in st["cmd"]
    assert str(paths.runs_dir()) in stages["report"]["deps"]
    assert _resolve(stages["small_input"]["metrics"][0], ds, bb) == str(paths.small_input_file(ds))
    assert str(paths.metrics_file("probe", ds, bb)).startswith(str(paths.runs_dir()))
