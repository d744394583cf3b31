"""dvc.yaml, the stage table, the stage scripts, the CLI and rotnet/paths.py agree."""

import re
from pathlib import Path

import pytest
import yaml

from rotnet import paths
from rotnet.cli import stage_runner
from rotnet.params import FinetuneParams, SemisupParams
from rotnet.stages.table import STAGES
from tests.stages.imports import ROOT, collapse, import_closure, python_files

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
TRAINING = ("supervised", "pretrain", "probe", "finetune")


def _resolve(text: str, dataset: str = "cifar10", backbone: str = "nin", head: str = "conv") -> str:
    text = text.replace("${item.dataset}", dataset).replace("${item.backbone}", backbone).replace("${item.head}", head)
    return text.replace("${item.method}", "simclr")


def _kind(kind: str) -> str:
    """Where a training stage's outputs are for _resolve's item: finetune's per head."""
    return paths.variant_kind(kind, "conv" if kind == "finetune" else None)


def _names(entries: list) -> set[str]:
    return {_resolve(e if isinstance(e, str) else next(iter(e))) for e in entries}


def test_every_stage_of_the_table_has_a_module_a_script_a_cli_runner_and_a_dvc_entry():
    assert [s.name for s in STAGES] == list(DVC)
    for spec in STAGES:
        assert (ROOT / spec.script).is_file() and f"python {spec.script}" in DVC[spec.name]["cmd"]
        assert (ROOT / spec.module.replace(".", "/")).with_suffix(".py").is_file()
        assert stage_runner(spec.name).__module__ == spec.module
        assert ("--dataset" in DVC[spec.name]["cmd"]) == spec.per_dataset
        assert ("--backbone" in DVC[spec.name]["cmd"]) == spec.per_backbone
        assert ("--head ${item.head}" in DVC[spec.name]["cmd"]) == spec.per_head
        assert ("head" in DVC[spec.name].get("matrix", {})) == spec.per_head


@pytest.mark.parametrize("spec", STAGES, ids=lambda s: s.name)
def test_code_deps_are_exactly_the_stage_scripts_import_closure(spec):
    closure = import_closure(ROOT / spec.script)
    declared: set[Path] = set()
    for dep in DVC[spec.name]["deps"]:
        declared |= python_files(Path(dep.split("$")[0].rstrip("/")) if "$" in dep else Path(dep))
    hint = "\n".join(f"      - {d}" for d in collapse(closure))
    assert declared - closure == set(), f"dvc.yaml lists code that {spec.script} never imports; use:\n{hint}"
    assert closure - declared == set(), f"dvc.yaml misses code that {spec.script} imports; use:\n{hint}"


def test_no_training_stage_depends_on_another_stage_family_or_the_report():
    for kind in (*TRAINING, "ssl_finetune", "small_input", "semisup", "ssl_semisup"):
        closure = {str(p) for p in import_closure(ROOT / "stages" / f"{kind}.py")}
        others = {f"rotnet/stages/{s.name}.py" for s in STAGES if s.name != kind}
        assert not closure & others, f"{kind} imports {closure & others}"
        assert not any(p.startswith(("rotnet/report/", "rotnet/inference/")) for p in closure), kind


def test_outputs_match_the_package_paths():
    ds, bb = "cifar10", "nin"
    assert _resolve(DVC["prepare"]["outs"][0]) == str(paths.prepared_dir(ds))
    for kind in TRAINING:
        st, out = DVC[kind], _kind(kind)
        outs = _names(st["outs"])
        assert str(paths.record_file(out, ds, bb)) in outs
        assert str(paths.logs_dir(out, ds, bb)) in outs
        assert _resolve(st["metrics"][0]) == str(paths.metrics_file(out, ds, bb))
        assert _names(st["plots"]) == {str(paths.history_file(out, ds, bb))}
        # Resume state is no DVC output: a queued experiment's fresh copy must not look changed.
        assert not any(o.startswith(str(paths.CHECKPOINTS)) for o in outs)
        assert not any("persist" in str(o) for o in st["outs"])
        assert "study.seeds" in st["params"]
        assert "requirements.lock" in st["deps"]  # pinned versions: a bump reruns training
    for kind in ("supervised", "pretrain", "probe", "control", "finetune", "semisup"):
        assert str(paths.seeds_dir(_kind(kind), ds, bb)) in _names(DVC[kind]["outs"]), kind
    assert str(paths.seeds_dir("supervised", ds, "nin3")) in _names(DVC["baseline"]["outs"]) | {
        _resolve(o, backbone="nin3") for o in DVC["baseline"]["outs"]
    }
    assert str(paths.seeds_dir("small_input", ds, None)) in _names(DVC["small_input"]["outs"])
    for kind in ("supervised", "pretrain", "finetune"):
        assert str(paths.model_file(_kind(kind), ds, bb)) in _names(DVC[kind]["outs"])
    assert str(paths.probe_heads_file(ds, bb)) in _names(DVC["probe"]["outs"])
    # Later stages read the pretrained model files alone (the first seed's and every seed's),
    # never its run record (times, host).
    for kind in ("probe", "finetune", "semisup"):
        data_deps = {d for d in _names(DVC[kind]["deps"]) if not d.endswith(".py") and not d.startswith("rotnet")}
        pretrained = {str(paths.model_file("pretrain", ds, bb)), str(paths.seeds_dir("pretrain", ds, bb))}
        assert data_deps == {str(paths.prepared_dir(ds)), "requirements.lock"} | pretrained
    # ssl_finetune reads the method's pretraining and writes per method and head what finetune writes per head.
    ssl, pre = paths.variant_kind("ssl_finetune", "simclr-conv"), paths.variant_kind("ssl_pretrain", "simclr")
    st = DVC["ssl_finetune"]
    made = (paths.model_file, paths.record_file, paths.seeds_dir, paths.logs_dir)
    assert _names(st["outs"]) == {str(f(ssl, ds, bb)) for f in made}
    assert _resolve(st["metrics"][0]) == str(paths.metrics_file(ssl, ds, bb))
    assert _names(st["plots"]) == {str(paths.history_file(ssl, ds, bb))}
    data_deps = {d for d in _names(st["deps"]) if not d.endswith(".py") and not d.startswith("rotnet")}
    pretrained = {str(paths.model_file(pre, ds, bb)), str(paths.seeds_dir(pre, ds, bb))}
    assert data_deps == {str(paths.prepared_dir(ds)), "requirements.lock"} | pretrained
    # ssl_semisup: the semisup stage's pretrained arms on the method's pretraining, per method.
    ssl, st = paths.variant_kind("ssl_semisup", "simclr"), DVC["ssl_semisup"]
    assert _names(st["outs"]) == {str(paths.record_file(ssl, ds, bb)), str(paths.seeds_dir(ssl, ds, bb))}
    assert _resolve(st["metrics"][0]) == str(paths.metrics_file(ssl, ds, bb))
    data_deps = {d for d in _names(st["deps"]) if not d.endswith(".py") and not d.startswith("rotnet")}
    assert data_deps == {str(paths.prepared_dir(ds)), "requirements.lock"} | pretrained
    assert st["matrix"] == {**DVC["semisup"]["matrix"], "method": "${semisup.methods}"}
    assert _names(DVC["semisup"]["outs"]) == {
        str(paths.record_file("semisup", ds, bb)),
        str(paths.seeds_dir("semisup", ds, bb)),
    }
    assert _resolve(DVC["semisup"]["metrics"][0]) == str(paths.semisup_file(ds, bb))
    assert _resolve(DVC["small_input"]["metrics"][0]) == str(paths.small_input_file(ds))
    assert _names(DVC["small_input"]["outs"]) == {
        str(paths.small_input_record(ds)),
        str(paths.seeds_dir("small_input", ds, None)),
    }
    assert str(paths.runs_dir()) in DVC["report"]["deps"]


def test_finetune_runs_per_head_and_depends_on_every_finetune_key_but_heads():
    """One instance per head of finetune.heads; each depends on every other finetune key, so
    changing the heads adds or drops instances and retrains none of the others (nor does
    finetune.methods, which only picks the ssl_finetune instances)."""
    st = DVC["finetune"]
    assert st["matrix"]["head"] == "${finetune.heads}"
    listed = {p.removeprefix("finetune.") for p in st["params"] if p.startswith("finetune")}
    assert "finetune" not in st["params"] and listed == set(FinetuneParams.model_fields) - {"heads", "methods"}
    ssl = DVC["ssl_finetune"]
    assert ssl["matrix"] == {**st["matrix"], "method": "${finetune.methods}"}
    assert "--method ${item.method} --head ${item.head}" in ssl["cmd"]
    assert {p for p in ssl["params"] if not p.startswith("finetune")} == {
        p for p in st["params"] if not p.startswith("finetune")
    }
    assert {p.removeprefix("finetune.") for p in ssl["params"] if p.startswith("finetune")} == listed | {"methods"}
    # DVC refuses a listed key that params.yaml lacks: the section names each of them.
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["finetune"]
    assert set(section) == set(FinetuneParams.model_fields)
    assert "finetune.heads" in DVC["report"]["params"]  # it reads each head's record


def test_semisup_depends_on_every_semisup_key_but_methods():
    """semisup.methods picks the ssl_semisup instances: changing it retrains no semisup instance."""
    listed = {p.removeprefix("semisup.") for p in DVC["semisup"]["params"] if p.startswith("semisup")}
    assert "semisup" not in DVC["semisup"]["params"] and listed == set(SemisupParams.model_fields) - {"methods"}
    assert set(yaml.safe_load((ROOT / "params.yaml").read_text())["semisup"]) == set(SemisupParams.model_fields)
    # ssl_semisup runs no scratch arm: it tracks none of the scratch keys.
    ssl = {p.removeprefix("semisup.") for p in DVC["ssl_semisup"]["params"] if p.startswith("semisup")}
    assert ssl == {"labels_per_class", "arms", "rotnet", "methods"}


def test_the_committed_lock_names_no_path_of_one_machine():
    """dvc.lock records params and paths as given: an absolute one would make every stage
    rerun on a machine where the data sits elsewhere."""
    text = (ROOT / "dvc.lock").read_text(encoding="utf-8")
    absolute = [line.strip() for line in text.splitlines() if re.search(r":\s+/", line)]
    assert absolute == []


@pytest.mark.parametrize("spec", STAGES, ids=lambda s: s.name)
def test_a_stage_whose_code_reads_backbone_entries_tracks_them(spec):
    """Code that reads params.backbones.<name> (its options or its recipe) runs under DVC only
    with that entry tracked: else `-S backbones.<name>.recipe.<section>...` reruns nothing."""
    reads = re.compile(r"\.(backbone_options|recipe)\(")
    code = [p for p in import_closure(ROOT / spec.script) if p != Path("rotnet/params.py")]
    if not any(reads.search((ROOT / p).read_text(encoding="utf-8")) for p in code):
        pytest.skip(f"{spec.name}'s code reads no backbone entry")
    tracked = DVC[spec.name].get("params", [])
    assert "backbones" in tracked or "backbones.${item.backbone}" in tracked, tracked
