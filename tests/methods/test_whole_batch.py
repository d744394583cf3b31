"""A contrastive method refuses micro-batches, naming the knob and the fix."""

import pytest

from rotnet.errors import RotnetError
from rotnet.methods.whole_batch import refuse_micro_batches
from rotnet.params import parse_params


def test_the_whole_batch_passes():
    refuse_micro_batches("simclr", None, 512)
    refuse_micro_batches("simclr", 512, 512)
    refuse_micro_batches("simclr", 256, 512, processes=2)  # each process's whole share
    refuse_micro_batches("simclr", parse_params({}).runtime.micro_batch, 512)  # the default


@pytest.mark.parametrize(("micro", "processes", "said"), [(128, 1, "128"), (128, 2, "128"), ("auto", 1, "auto")])
def test_a_split_batch_is_refused_with_the_knob_and_the_fix(micro, processes, said):
    with pytest.raises(RotnetError) as err:
        refuse_micro_batches("simclr", micro, 512, processes)
    msg = str(err.value)
    assert f"runtime.micro_batch is {said}" in msg and f"runs {512 // processes} images per step" in msg
    assert "Set runtime.micro_batch: null" in msg and "distributed.nproc_per_node" in msg
    assert msg.startswith("simclr takes its negatives from the whole batch")
