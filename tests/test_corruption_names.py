"""rotnet.corruption_names: the names params checks are the corruptions the data layer makes."""

from __future__ import annotations

import numpy as np
import pytest

from rotnet.corruption_names import CORRUPTION_NAMES, SEVERITIES
from rotnet.errors import RotnetError
from rotnet.params import parse_params


def test_every_name_is_a_corruption_that_generates_at_every_severity():
    from rotnet.data.corruptions import CORRUPTIONS, corrupt

    assert tuple(CORRUPTIONS) == CORRUPTION_NAMES
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    for name in CORRUPTION_NAMES:
        for severity in (SEVERITIES[0], SEVERITIES[-1]):
            out = corrupt(images, name, severity, seed=0)
            assert out.shape == images.shape and out.dtype == np.uint8, (name, severity)


def test_params_accept_every_name_and_reject_a_typo_when_read():
    assert parse_params({"robustness": {"corruptions": list(CORRUPTION_NAMES)}}).robustness.corruptions == list(
        CORRUPTION_NAMES
    )
    with pytest.raises(RotnetError, match="gausian_noise"):
        parse_params({"robustness": {"corruptions": ["gausian_noise"]}})
