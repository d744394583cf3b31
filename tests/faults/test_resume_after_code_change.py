"""Resume after a code change: a killed run never resumes under other training code.

The resume fingerprint holds a hash of the stage's code (its script's import closure,
rotnet.code_deps), beside its params and data; a mismatch is refused with the same
message as for params, naming the way to start fresh. (The hash itself: tests/test_code_deps.py.)
"""

import pytest

from rotnet.code_deps import code_hash
from rotnet.errors import RotnetError
from rotnet.params import parse_params
from rotnet.stages import supervised
from rotnet.training import context, engine, environment
from tests.synthetic import TINY_TRAINING


class Killed(Exception):
    pass


def test_a_run_killed_under_one_version_of_the_code_is_not_resumed_under_another(project, monkeypatch):
    raw = project.model_dump(mode="json")
    raw["supervised"] = {**TINY_TRAINING, "epochs": 2}
    params = parse_params(raw)
    real_save = engine.save_resume_state

    def save_then_die(path, fingerprint, epoch, *args):
        real_save(path, fingerprint, epoch, *args)
        raise Killed  # killed right after the epoch-1 checkpoint

    monkeypatch.setattr(engine, "save_resume_state", save_then_die)
    with pytest.raises(Killed):
        supervised.run(params, "cifar10", "nin")
    monkeypatch.setattr(engine, "save_resume_state", real_save)
    # The training code is edited: the hash of the stage's closure changes.
    with pytest.MonkeyPatch.context() as edited:
        edited.setattr(environment.StageEnvironment, "code", "edited")
        with pytest.raises(RotnetError, match=r"made with other code than the current ones.*runtime\.resume: false"):
            supervised.run(params, "cifar10", "nin")
    # The code as it was: the same run resumes and finishes.
    metrics = supervised.run(params, "cifar10", "nin")
    assert 0 <= metrics["test_acc"] <= 100


def test_every_stage_checkpoint_records_its_code(project):
    from rotnet.code_deps import ROOT

    with context.StageRun(project, "supervised", "cifar10", "nin") as stage:
        fingerprint = stage.env.fingerprint(project.supervised)
    assert fingerprint["code"] == code_hash(ROOT / "stages" / "supervised.py")
