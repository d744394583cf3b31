"""DVC stage 'report': see `python stages/report.py --help`; the logic lives in the rotnet package."""

from rotnet.cli import run_stage

if __name__ == "__main__":
    run_stage("report")
