"""A stage's body once per training seed (study.seeds), and its results written once all have run.

Each seed reads the upstream outputs of the same seed and writes its own; with several
seeds the stage folder then gets the first seed's model and the results averaged over
seeds (rotnet.seeds), and ``seeds/`` holds every seed's outputs. A stage that chooses on
validation (a probe's layer and head, an epoch) gives ``each_seed`` a ``choose`` function:
it runs once every seed has run, and makes that choice once for all seeds
(rotnet.seeds.choose_once), so the figures averaged are those of one fixed choice.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rotnet.atomic import write_bytes, write_json
from rotnet.progress import log
from rotnet.seeds import over_seeds
from rotnet.training.environment import StageEnvironment
from rotnet.training.outputs import StageOutputs


@dataclass
class SeedResults:
    """One training seed's results, kept until every seed has run: its metrics and run
    record, and what a choice across seeds reads (``candidates``, never written)."""

    seed: int
    metrics: dict[str, Any]
    record: dict[str, Any]
    candidates: Any = None


# Fills in every seed's metrics and record with choices made once over all seeds.
Chooser = Callable[[list[SeedResults]], None]


class SeedRuns:
    def __init__(self, env: StageEnvironment, outputs: StageOutputs) -> None:
        self.env, self.outputs = env, outputs
        self._per_seed: list[SeedResults] = []
        self.metrics: dict[str, Any] = {}  # what the metrics file holds once the stage is done

    def each_seed(self, choose: Chooser | None = None) -> Iterator[int]:
        """Run the body once per training seed; then ``choose`` (choices made once over the
        seeds, filled into every seed's results), and write the results: with several
        seeds, the stage folder gets the first seed's model and the figures averaged."""
        env = self.env
        self._per_seed = []
        for seed in env.seeds:
            env.seed = seed
            env.reseed()
            if env.world.is_main and env.several_seeds:
                log(f"{env.name}: training seed {seed} ({env.seeds.index(seed) + 1} of {len(env.seeds)})")
            yield seed
        env.seed = env.seeds[0]
        if env.world.is_main:
            if choose is not None:
                choose(self._per_seed)
            self._write_seed_index()
            if env.several_seeds:
                self._write_over_seeds()
            elif self._per_seed:
                (one,) = self._per_seed
                write_json(self.outputs.out_dir / "run.json", one.record)
                write_json(self.outputs.metrics_path, one.metrics)
                self.metrics = one.metrics

    def write_results(self, metrics: dict[str, Any], record: dict[str, Any], candidates: Any = None) -> None:
        """Metrics (results to compare across experiments) and the run record beside the model,
        of the current seed, written once every seed has run (each_seed), after the choices
        made over seeds from each seed's ``candidates``."""
        if self.env.world.is_main:
            self._per_seed.append(SeedResults(self.env.seed, metrics, record, candidates))

    def _write_seed_index(self) -> None:
        env, folder = self.env, self.outputs.seeds_dir
        # Seeds of an earlier run that this one does not have: their models would be stale.
        for old in folder.glob("*"):
            if old.is_dir() and old.name.isdigit() and (not env.several_seeds or int(old.name) not in env.seeds):
                shutil.rmtree(old)
        where = {str(s): str(self.outputs.folder(s)) for s in env.seeds}
        write_json(folder / "index.json", {"seeds": where})

    def _write_over_seeds(self) -> None:
        seeds = self.env.seeds
        first, top = self.outputs.folder(seeds[0]), self.outputs.top
        for name in ("model.pt", "heads.pt"):  # what predict, orient and later stages' users open
            if (first / name).is_file():
                write_bytes(top / name, (first / name).read_bytes())
        metrics = over_seeds([r.metrics for r in self._per_seed], seeds)
        records = [r.record for r in self._per_seed]
        # Each seed's own record goes in the averaged one, not in seeds/: seeds/ holds the
        # byte-stable models alone, so later stages that read it rerun only when those change.
        record = {**over_seeds(records, seeds), "per_seed": dict(zip(map(str, seeds), records, strict=True))}
        write_json(top / "run.json", record)
        write_json(self.outputs.metrics_path, metrics)
        self.metrics = metrics
