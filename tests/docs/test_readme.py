"""The README is a front door: short, set-up first, CI's command, and docs whose links and figures hold."""

from __future__ import annotations

import re
import shlex

from rotnet.report.docblocks import RESULTS, fill
from tests.docs.commands import ROOT, commands, doc_files

README = (ROOT / "README.md").read_text()
SECTIONS = ["The pipeline", "Set up and run", "What you get", "The stages", "Everyday commands", "Layout", "Links"]


def test_the_readme_is_short_and_in_the_issues_order():
    assert len(README.splitlines()) <= 250
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings == SECTIONS


def test_the_two_setup_commands_are_in_the_first_60_lines_and_ci_runs_the_test_one():
    first = [c.argv for c in commands() if c.doc == "README.md" and c.line <= 60]
    assert ("make", "quick") in first and ("make", "test") in first
    ci = [shlex.split(line, comments=True) for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    ci_commands = [argv for argv in ci if argv and "=" not in argv[0]]
    assert ci_commands[-1] == ["make", "test"], "CI must run the README's test command"


def test_the_readme_promises_the_python_the_project_requires():
    required = re.search(r'^requires-python = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    stated = re.search(r"Python (3\.\d+) or newer", README)
    assert stated, "README must say which Python it needs"
    assert required == f">={stated.group(1)}", f"README says Python {stated.group(1)}, pyproject.toml {required}"
    assert stated.group(1) == "3.11", "hashlib.file_digest (rotnet/models/saved.py) came in 3.11"


def test_every_results_block_is_what_the_committed_results_give():
    for path in doc_files():
        text = path.read_text()
        assert fill(text, RESULTS) == text, f"{path.name}: a results block is stale; run `make docs`"
    assert "<!-- results:quick:begin -->" in README


def test_every_code_block_is_closed():
    for path in doc_files():
        fences = re.findall(r"^[ \t]*```", path.read_text(), re.M)
        assert len(fences) % 2 == 0, f"{path.name}: a code block is never closed"


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors."""
    slugs = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def test_every_link_between_the_docs_resolves():
    broken = []
    for path in doc_files():
        for target in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", path.read_text()):
            file, anchor = target
            if file.startswith("http"):
                continue
            dest = (path.parent / file) if file else path
            if not dest.exists():
                broken.append(f"{path.name}: {file}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
                broken.append(f"{path.name}: {file}#{anchor}")
    assert not broken, broken
