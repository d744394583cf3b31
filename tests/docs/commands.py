"""The commands README.md and docs/*.md show in bash blocks, and how each is tested."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^([ \t]*)```(?:bash|sh)\n(.*?)^\1```", re.S | re.M)

# Run for real in a clone of the tiny study (cheap there); every other command is checked without
# running it: make -n, argument parsing, params keys (tests/docs/test_commands.py).
RUN = (
    ("dvc", "exp", "show"),
    ("dvc", "metrics", "diff"),
    ("dvc", "status"),
    ("dvc", "checkout"),
    ("dvc", "plots", "show"),
    ("rotnet", "stages"),
    ("rotnet", "backbones"),
    ("rotnet", "predict"),
    ("rotnet", "orient"),
)
CHECK = (
    ("make",),
    ("dvc", "exp", "run"),
    ("dvc", "queue", "start"),
    ("rotnet", "ablations"),
    ("rotnet", "data", "add"),  # run for real by tests/test_data_add.py and the tiny study's build
    ("dvc", "plots", "diff"),  # run with two revisions by test_the_docs_commands_run_on_the_tiny_study
    ("rotnet", "worker"),  # needs node 0's stage: run by tests/stages/test_nodes.py
    # Sharing (docs/sharing.md): run for real by tests/stages/test_pipeline.py, with a folder
    # as the remote and a bare repository as origin; here, the arguments as written.
    ("dvc", "remote", "add"),
    ("dvc", "push"),
    ("dvc", "pull"),
    ("dvc", "repro"),
    ("dvc", "exp", "push"),
    ("dvc", "exp", "pull"),
    ("dvc", "exp", "apply"),
    ("git",),
    ("python",),
    ("python3",),
    ("torchrun",),
    ("tensorboard",),
)
# The one training command run for real: it sets the committed value, so DVC reruns nothing
# and the clone gets an experiment row for `dvc exp show`, as after `make quick`.
REAL_EXP_RUN = ("dvc", "exp", "run", "-S", "supervised_rot.weight=0.5")


@dataclass(frozen=True)
class Command:
    doc: str  # README.md or docs/<page>.md
    line: int  # where its block starts
    argv: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{' '.join(self.argv)[:60]}"

    @property
    def kind(self) -> str | None:
        """'run', 'check', or None for a command no test covers."""
        if self.argv == REAL_EXP_RUN:
            return "run"
        for kind, prefixes in (("run", RUN), ("check", CHECK)):
            if any(self.argv[: len(p)] == p for p in prefixes):
                return kind
        return None


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def commands(root: Path = ROOT) -> list[Command]:
    """Every command line of every bash/sh block (continuations joined, comments dropped)."""
    found = []
    for path in doc_files(root):
        text = path.read_text()
        for block in FENCE.finditer(text):
            line = text.count("\n", 0, block.start()) + 1
            for source in re.sub(r"\\\n\s*", " ", block.group(2)).splitlines():
                argv = shlex.split(source, comments=True)
                if argv:
                    found.append(Command(path.relative_to(root).as_posix(), line, tuple(argv)))
    return found
