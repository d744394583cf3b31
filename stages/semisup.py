"""DVC stage 'semisup': see `python stages/semisup.py --help`; the logic lives in the rotnet package."""

import sys
from pathlib import Path

# Run this checkout's package, the code dvc.lock hashes, even if another copy is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rotnet.cli import run_stage

if __name__ == "__main__":
    run_stage("semisup")
