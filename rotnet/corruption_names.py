"""The names of the corruptions rotnet.data.corruptions generates, and their severities.

Plain values in the lowest layer, so that params can check `robustness.corruptions` when it
is read without importing the numpy code (which would make every stage's code deps, prepare's
included, hold rotnet/data/corruptions.py). rotnet.data.corruptions builds its table in this
order and checks at import that it generates exactly these.
"""

from __future__ import annotations

# CIFAR-10-C's names, grouped by the paper's families: noise, blur, weather, digital.
CORRUPTION_NAMES = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "gaussian_blur",
    "defocus_blur",
    "brightness",
    "contrast",
    "pixelate",
    "jpeg_compression",
)
SEVERITIES = (1, 2, 3, 4, 5)
