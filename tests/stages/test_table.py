"""The table of stages drives the docs and the CLI (each stage a command: tests/test_cli.py)."""

import subprocess
import sys
from pathlib import Path

from rotnet.cli import main
from rotnet.stages.table import STAGES, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_shows_the_table_as_rotnet_stages_prints_it(capsys):
    main(["stages"])
    printed = capsys.readouterr().out.strip()
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- stages:begin -->\n")[1].split("\n<!-- stages:end -->")[0]
    assert printed == markdown_table() == block, "README's stage table is stale: paste `rotnet stages` into it"
    assert all(f"`{s.name}`" in block for s in STAGES)


def test_the_cli_does_not_import_torch_to_show_help():
    code = "import sys; from rotnet.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    code += "assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
