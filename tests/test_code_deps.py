"""The project code a script runs (rotnet.code_deps): its import closure and a hash of it."""

from __future__ import annotations

from rotnet.code_deps import ROOT, code_hash, import_closure, imported_modules, module_file


def _tree(root):
    (root / "rotnet" / "sub").mkdir(parents=True)
    (root / "stages").mkdir()
    files = {
        "rotnet/__init__.py": "",
        "rotnet/sub/__init__.py": "",
        "rotnet/sub/used.py": "from rotnet import deep\n",
        "rotnet/deep.py": "import os\nimport rotnet.missing\n",  # a name with no file is left out
        "rotnet/unused.py": "Y = 1\n",
        "stages/s.py": "import json\n\ndef main():\n    from rotnet.sub import used\n",  # deferred imports count
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root / "stages" / "s.py"


def test_the_closure_follows_imports_anywhere_in_the_body_and_parent_packages(tmp_path):
    script = _tree(tmp_path)
    assert imported_modules(script, tmp_path) == {"rotnet", "rotnet.sub", "rotnet.sub.used"}
    closure = {str(p) for p in import_closure(script, tmp_path)}
    assert closure == {
        "stages/s.py",
        "rotnet/__init__.py",
        "rotnet/sub/__init__.py",
        "rotnet/sub/used.py",
        "rotnet/deep.py",  # `from rotnet import deep`: a submodule by name
    }


def test_module_file_finds_modules_and_packages_only(tmp_path):
    _tree(tmp_path)
    assert module_file("rotnet.sub", tmp_path) == tmp_path / "rotnet/sub/__init__.py"
    assert module_file("rotnet.deep", tmp_path) == tmp_path / "rotnet/deep.py"
    assert module_file("rotnet.missing", tmp_path) is None
    assert module_file("rotnet.code_deps") == ROOT / "rotnet" / "code_deps.py"  # the checkout by default


def test_the_hash_follows_the_code_a_script_runs_and_nothing_else(tmp_path):
    script = _tree(tmp_path)
    before = code_hash(script, tmp_path)
    (tmp_path / "rotnet/unused.py").write_text("Y = 2\n")
    assert code_hash(script, tmp_path) == before
    (tmp_path / "rotnet/deep.py").write_text("import os\n# edited\n")
    assert code_hash(script, tmp_path) != before


def test_a_real_stage_closure_holds_what_it_imports():
    closure = {str(p) for p in import_closure(ROOT / "stages" / "prepare.py")}
    assert {"stages/prepare.py", "rotnet/__init__.py", "rotnet/stages/prepare.py", "rotnet/errors.py"} <= closure
    assert "rotnet/cli.py" not in closure
