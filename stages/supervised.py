"""DVC stage 'supervised': see `python stages/supervised.py --help`; the logic lives in the rotnet package."""

from rotnet.cli import run_stage

if __name__ == "__main__":
    run_stage("supervised")
