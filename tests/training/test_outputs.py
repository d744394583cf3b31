"""rotnet/training/outputs.py: where a stage's run writes: one folder per training seed, the
checkpoint names, and model files that record what built them."""

from rotnet import paths
from rotnet.models.saved import load_model_file
from rotnet.training.context import StageRun
from tests.training.test_seed_runs import _params


def test_one_seed_writes_at_the_stage_folder_and_several_under_seeds(data):
    with StageRun(_params([4]), "pretrain", "cifar10", "nin") as stage:
        out = stage.outputs
        assert out.out_dir == out.top == paths.stage_dir("pretrain", "cifar10", "nin")
        assert out.checkpoint("last") == paths.checkpoint_dir("pretrain", "cifar10", "nin") / "last.pt"
    with StageRun(_params([4, 7]), "pretrain", "cifar10", "nin") as stage:
        out = stage.outputs
        stage.env.seed = 7
        assert out.out_dir == out.seeds_dir / "7" and out.folder(4) == out.seeds_dir / "4"
        assert out.checkpoint("last").name == "seed7-last.pt"


def test_a_saved_model_records_what_built_it_and_loads(data):
    with StageRun(_params([0]), "supervised", "cifar10", "nin") as stage:
        model = stage.env.new_backbone(5)
        stage.outputs.save_model(model, 5, best_epoch=3)
        path = stage.outputs.out_dir / "model.pt"
    saved = load_model_file(path, kind="supervised")
    assert saved["backbone"] == "nin" and saved["num_classes"] == 5 and saved["best_epoch"] == 3
    assert saved["backbone_options"] == {"width": 8}
    assert saved["state_dict"].keys() == model.state_dict().keys()
