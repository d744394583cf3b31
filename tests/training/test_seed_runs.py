"""rotnet/training/seed_runs.py as a stage uses it: the body once per training seed, each
seed's outputs in its own folder, the results written once every seed has run (averaged
with several)."""

import json

from rotnet import paths
from rotnet.params import parse_params
from rotnet.training.context import StageRun


def _params(seeds):
    return parse_params({"runtime": {"device": "cpu"}, "backbones": {"nin": {"width": 8}}, "study": {"seeds": seeds}})


def _run(params, figures, choose=None):
    with StageRun(params, "supervised", "cifar10", "nin") as stage:
        env, out = stage.env, stage.outputs
        for seed in stage.each_seed(choose):
            assert env.seed == seed
            model = env.new_backbone(4)
            out.save_model(model, 4, best_epoch=seed)
            stage.write_results({"test_acc": figures[seed]}, {"seed_was": seed, "host": "h"}, candidates=seed * 10)
    return stage


def test_one_seed_writes_beside_its_model_and_a_seed_index(data):
    stage = _run(_params([5]), {5: 61.0})
    top = paths.stage_dir("supervised", "cifar10", "nin")
    assert stage.outputs.out_dir == top and (top / "model.pt").is_file()
    assert json.loads((top / "run.json").read_text()) == {"seed_was": 5, "host": "h"}
    assert stage.metrics == {"test_acc": 61.0} == json.loads(stage.outputs.metrics_path.read_text())
    index = json.loads((paths.seeds_dir("supervised", "cifar10", "nin") / "index.json").read_text())
    assert index == {"seeds": {"5": str(top)}}
    assert stage.outputs.checkpoint("last").name == "last.pt"


def test_several_seeds_each_write_their_own_and_the_stage_folder_gets_the_mean(data):
    seen = []
    stale = paths.seeds_dir("supervised", "cifar10", "nin") / "9"
    stale.mkdir(parents=True)  # a seed of an earlier run that this one does not have
    stage = _run(_params([1, 2]), {1: 60.0, 2: 70.0}, choose=lambda seeds: seen.append([s.candidates for s in seeds]))
    assert seen == [[10, 20]]  # the choice runs once, after every seed
    assert stage.metrics == {"test_acc": 65.0, "std": {"test_acc": 7.07}, "seeds": [1, 2]}
    folder = paths.seeds_dir("supervised", "cifar10", "nin")
    top = paths.stage_dir("supervised", "cifar10", "nin")
    assert not stale.exists() and (folder / "1" / "model.pt").is_file() and (folder / "2" / "model.pt").is_file()
    assert (top / "model.pt").read_bytes() == (folder / "1" / "model.pt").read_bytes()
    record = json.loads((top / "run.json").read_text())
    assert record["per_seed"]["2"] == {"seed_was": 2, "host": "h"} and record["seed_was"] == 1.5
    with StageRun(_params([1, 2]), "supervised", "cifar10", "nin") as again:
        again.env.seed = 2
        assert again.outputs.checkpoint("arm").name == "seed2-arm.pt"
        assert again.env.upstream("supervised") == folder / "2" / "model.pt"
