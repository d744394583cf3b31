"""Figures over training seeds (study.seeds): the mean at each figure's usual key, and the
standard deviation beside it under ``std``, so metric names stay the same whatever the
number of seeds and `dvc exp show` lines up a one-seed and a two-seed experiment.

A choice made on validation (the probe's layer and head, the kNN's k and T, a
semi-supervised arm's epoch) is made once for all seeds (``choose_once``): the mean ± std
is then that one choice's, not an average of whatever each seed chose.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)


def choose_once(val: Sequence[Mapping[K, float]]) -> K:
    """The candidate with the highest mean validation accuracy over training seeds (one
    mapping per seed: candidate -> that seed's validation accuracy); on a tie, the first in
    the first seed's order. With one seed, that seed's own best. It is given validation
    figures only, so no test figure can enter a choice; each seed's test figure is then
    read at the chosen candidate."""
    if not val or not val[0]:
        raise ValueError("choose_once needs at least one seed and one candidate")
    keys = list(val[0])
    if any(set(v) != set(keys) for v in val):
        raise ValueError(f"every seed must have the same candidates; got {[sorted(map(str, v)) for v in val]}")
    return max(keys, key=lambda k: statistics.fmean(v[k] for v in val))  # max keeps the first of equals


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def mean_tree(values: list[Any]) -> Any:
    """The per-seed trees merged: numbers averaged (2 decimals), lists element-wise, dicts
    key-wise (keys of the first seed), other values kept when all seeds agree, else joined
    with '|' (e.g. a best layer that differs between seeds)."""
    first = values[0]
    if all(_is_number(v) for v in values):
        # A value every seed shares (a chosen k, epoch) stays as it is: 20, not 20.0.
        shared = all(v == first for v in values) and isinstance(first, int)
        return first if shared else round(statistics.fmean(values), 2)
    if isinstance(first, dict) and all(isinstance(v, dict) for v in values):
        return {k: mean_tree([v.get(k) for v in values]) for k in first}
    if isinstance(first, list) and all(isinstance(v, list) and len(v) == len(first) for v in values):
        return [mean_tree(list(items)) for items in zip(*values, strict=True)]
    if all(v == first for v in values):
        return first
    return "|".join(dict.fromkeys(str(v) for v in values))


def std_tree(values: list[Any]) -> Any:
    """The sample standard deviation (n - 1) of every number of the per-seed trees, at the
    same keys; None where a key holds no numbers. Lists of records (semisup points) get one
    std tree per item; lists of numbers are left out (confusion matrices)."""
    if all(_is_number(v) for v in values):
        return round(statistics.stdev(values), 2) if len(values) > 1 else 0.0
    first = values[0]
    same_lists = all(isinstance(v, list) and len(v) == len(first) for v in values)
    if isinstance(first, list) and same_lists and first and all(isinstance(x, dict) for v in values for x in v):
        return [std_tree(list(items)) for items in zip(*values, strict=True)]
    if isinstance(first, dict) and all(isinstance(v, dict) for v in values):
        out = {k: std_tree([v.get(k) for v in values]) for k in first}
        kept = {k: v for k, v in out.items() if v is not None}
        return kept or None
    return None


def over_seeds(values: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """The per-seed results (in ``seeds`` order) as one: means, ``std`` and the seeds."""
    if len(values) == 1:
        return values[0]
    return {**mean_tree(values), "std": std_tree(values) or {}, "seeds": list(seeds)}
