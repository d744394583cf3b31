"""The stage context: one run per stage instance at a time, released however the stage ends."""

import pytest

from rotnet import paths
from rotnet.errors import RotnetError
from rotnet.params import parse_params
from rotnet.training.context import StageRun
from tests.synthetic import save_project_data


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_project_data(64, 16, 16)
    return parse_params({"runtime": {"device": "cpu"}, "backbones": {"nin": {"width": 8}}})


def test_a_second_run_of_the_same_stage_fails_clearly_while_the_first_runs(project):
    with StageRun(project, "pretrain", "cifar10", "nin") as first:
        assert len(first.env.data.train) == 64 and first.env.in_chans == 3
        with pytest.raises(RotnetError, match=r"pretrain@cifar10-nin is already running \(pid \d+"):
            StageRun(project, "pretrain", "cifar10", "nin").__enter__()
        # Other stage instances are independent.
        with StageRun(project, "pretrain", "cifar10", "resnet18"):
            pass
    with StageRun(project, "pretrain", "cifar10", "nin"):  # released on a normal exit
        pass


def test_the_lock_is_released_when_the_stage_fails(project):
    with pytest.raises(ValueError), StageRun(project, "supervised", "cifar10", "nin"):
        raise ValueError("a failing stage")
    with StageRun(project, "supervised", "cifar10", "nin"):
        pass


def test_an_unknown_dataset_or_missing_data_is_a_clear_error(project):
    with pytest.raises(RotnetError, match="unknown dataset 'nope'"):
        StageRun(project, "supervised", "nope", "nin").__enter__()
    (paths.prepared_dir("cifar10") / "meta.json").unlink()
    with pytest.raises(RotnetError, match="run the prepare stage first"):
        StageRun(project, "supervised", "cifar10", "nin").__enter__()
    # The failed entry left no lock behind: the same error again, not "already running".
    with pytest.raises(RotnetError, match="run the prepare stage first"):
        StageRun(project, "supervised", "cifar10", "nin").__enter__()


def test_a_fit_of_a_part_logs_to_tensorboard_under_its_part_and_leaves_the_history(project):
    from rotnet.training.tasks import SupervisedTask

    cfg = project.supervised.model_copy(update={"epochs": 1, "batch_size": 32})
    cfg = cfg.model_copy(update={"schedule": cfg.schedule.model_copy(update={"milestones": []})})
    with StageRun(project, "control", "cifar10", "nin") as stage:
        model = stage.env.new_backbone(stage.env.prepared.num_classes)
        stage.fit(SupervisedTask(model, stage.env.prepared.num_classes), cfg, part="random", history=False)
    assert list((paths.logs_dir("control", "cifar10", "nin") / "random").glob("events.out.tfevents.*"))
    assert not paths.history_file("control", "cifar10", "nin").exists()
