"""Name collisions in `rotnet orient` and `rotnet predict` (issue 14, part 1): same-named
photos in different folders, an image given twice, outputs that already exist, and an
output that appears while the command runs. Run through ``rotnet.cli.main`` so that exit
status and messages are checked too."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rotnet.inference.orient as orient_module
import rotnet.inference.predict as predict_module
from rotnet.cli import main
from rotnet.models.registry import create_backbone
from tests.inference.files import save_model
from tests.inference.test_orient_rotations import _rotnet_file
from tests.synthetic import dataset, draw


@pytest.fixture(scope="module")
def rotnet_model(tmp_path_factory) -> Path:
    """An untrained RotNet: which angle it picks does not matter here, where its copy goes does."""
    return _rotnet_file(tmp_path_factory.mktemp("m") / "rotnet.pt", [0, 90, 180, 270])


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    data = dataset(n_train=16, n_val=4, n_test=4)
    model = create_backbone("nin", 4, options={"width": 16})
    return save_model(tmp_path_factory.mktemp("c") / "sup.pt", model, "supervised", 4, data)


def _photos(root: Path, *names: str) -> dict[str, np.ndarray]:
    """A different 16x16 PNG at each relative path under root (PNG: compared pixel for pixel)."""
    pixels = {}
    for i, (name, img) in enumerate(zip(names, draw(len(names), size=16, seed=11).images, strict=True)):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        img = img.copy()
        img[0, 0] = i  # distinct even where draw repeats a class
        Image.fromarray(img).save(path)
        pixels[name] = img
    return pixels


def _run(capsys, *argv: str | Path) -> tuple[int, str, str]:
    """main(argv) -> (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def _orient(capsys, model: Path, out: Path, *inputs: str | Path, overwrite: bool = False) -> tuple[int, str, str]:
    flags = ["--overwrite"] if overwrite else []
    return _run(capsys, "orient", model, *inputs, "--out", out, "--device", "cpu", *flags)


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _table(out: Path) -> list[dict[str, str]]:
    with (out / "orientation.csv").open() as f:
        return list(csv.DictReader(f))


def _upright(original: np.ndarray, angle: str) -> np.ndarray:
    return np.rot90(original, -int(angle) // 90)  # orient turns clockwise by the angle it found


def test_same_named_photos_in_two_folders_get_two_upright_copies(rotnet_model, tmp_path, capsys):
    pixels = _photos(tmp_path / "photos", "x/a.png", "y/a.png")
    out = tmp_path / "upright"
    code, stdout, _ = _orient(capsys, rotnet_model, out, tmp_path / "photos")
    assert code == 0 and stdout.startswith("2 upright copies")
    rows = _table(out)
    assert [r["output"] for r in rows] == [str(out / "x" / "a.png"), str(out / "y" / "a.png")]
    for row, name in zip(rows, ["x/a.png", "y/a.png"], strict=True):
        assert row["file"] == str(tmp_path / "photos" / name)
        assert np.array_equal(np.asarray(Image.open(out / name)), _upright(pixels[name], row["angle"]))
    assert sorted(_listing(out)) == ["orientation.csv", "x/a.png", "y/a.png"]


@pytest.mark.parametrize(
    ("inputs", "clash"),
    [
        (["p/a.png", "q/a.png"], ("p/a.png", "q/a.png")),  # two file arguments
        (["p", "q/a.png"], ("p/a.png", "q/a.png")),  # a folder's a.png and a file argument
        (["p", "q"], ("p/a.png", "q/a.png")),  # two folders that both hold a.png
    ],
)
def test_two_photos_for_one_output_are_refused_before_writing(rotnet_model, tmp_path, capsys, inputs, clash):
    _photos(tmp_path, "p/a.png", "q/a.png")
    out = tmp_path / "upright"
    code, stdout, stderr = _orient(capsys, rotnet_model, out, *(tmp_path / i for i in inputs))
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and f"would both be written to {out / 'a.png'}" in stderr
    assert all(str(tmp_path / c) in stderr for c in clash) and "rename one" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["photos/x/a.png"],  # the folder, then a file inside it
        ["photos/x/../x/a.png", "photos/x/a.png"],  # the same file spelt twice more
        ["photos/"],  # the folder twice
    ],
)
def test_orient_does_a_photo_given_twice_once(rotnet_model, tmp_path, capsys, monkeypatch, extra):
    monkeypatch.chdir(tmp_path)
    pixels = _photos(tmp_path / "photos", "x/a.png", "b.png")
    code, stdout, _ = _orient(capsys, rotnet_model, Path("upright"), "photos", *extra)
    assert code == 0 and stdout.startswith("2 upright copies")
    rows = _table(tmp_path / "upright")
    # First mention wins: the folder's, so the copy keeps its place in the tree.
    assert [r["file"] for r in rows] == ["photos/b.png", "photos/x/a.png"]
    assert [r["output"] for r in rows] == ["upright/b.png", "upright/x/a.png"]
    for row, name in zip(rows, ["b.png", "x/a.png"], strict=True):
        assert np.array_equal(np.asarray(Image.open(row["output"])), _upright(pixels[name], row["angle"]))
    assert sorted(_listing(tmp_path / "upright")) == ["b.png", "orientation.csv", "x/a.png"]


def test_predict_does_an_image_given_twice_once(classifier, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "photos", "a.png", "b.png")
    args = ["predict", classifier, "photos", "photos/a.png", "./photos/b.png", "--format", "csv", "--device", "cpu"]
    code, stdout, _ = _run(capsys, *args)
    assert code == 0
    assert [r["file"] for r in csv.DictReader(stdout.splitlines())] == ["photos/a.png", "photos/b.png"]


def test_predict_refuses_to_replace_its_output_without_overwrite(classifier, tmp_path, capsys):
    _photos(tmp_path, "a.png")
    target = tmp_path / "preds.csv"
    target.write_bytes(b"last week's predictions\n")
    argv = ["predict", classifier, tmp_path / "a.png", "--format", "csv", "--output", target, "--device", "cpu"]
    code, stdout, stderr = _run(capsys, *argv)
    assert code == 2 and stdout == ""
    assert stderr == f"error: --output {target} already exists; pass --overwrite to replace it, or choose another\n"
    assert target.read_bytes() == b"last week's predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "preds.csv"]  # no temporary left

    code, _, _ = _run(capsys, *argv, "--overwrite")
    assert code == 0
    rows = list(csv.DictReader(target.read_text().splitlines()))
    assert [r["file"] for r in rows] == [str(tmp_path / "a.png")] and rows[0]["class1"] in {"c0", "c1", "c2", "c3"}


def test_orient_refuses_to_replace_an_existing_copy_without_overwrite(rotnet_model, tmp_path, capsys):
    pixels = _photos(tmp_path / "photos", "x/a.png", "y/b.png")
    out = tmp_path / "upright"
    (out / "y").mkdir(parents=True)
    (out / "y" / "b.png").write_bytes(b"someone's edit")
    code, stdout, stderr = _orient(capsys, rotnet_model, out, tmp_path / "photos")
    assert code == 2 and stdout == ""
    assert f"error: {out / 'y' / 'b.png'} already exists; orient wrote nothing" in stderr and "--overwrite" in stderr
    assert _listing(out) == {"y/b.png": b"someone's edit"}  # untouched, and nothing else written

    code, stdout, _ = _orient(capsys, rotnet_model, out, tmp_path / "photos", overwrite=True)
    assert code == 0 and stdout.startswith("2 upright copies")
    for row, name in zip(_table(out), ["x/a.png", "y/b.png"], strict=True):
        assert np.array_equal(np.asarray(Image.open(out / name)), _upright(pixels[name], row["angle"]))


def test_orient_refuses_to_replace_an_existing_table_without_overwrite(rotnet_model, tmp_path, capsys):
    _photos(tmp_path / "photos", "a.png")
    out = tmp_path / "upright"
    out.mkdir()
    (out / "orientation.csv").write_text("file,angle\nelsewhere.png,90\n")
    code, _, stderr = _orient(capsys, rotnet_model, out, tmp_path / "photos")
    assert code == 2 and f"{out / 'orientation.csv'} already exists" in stderr
    assert _listing(out) == {"orientation.csv": b"file,angle\nelsewhere.png,90\n"}

    code, _, _ = _orient(capsys, rotnet_model, out, tmp_path / "photos", overwrite=True)
    assert code == 0 and [r["file"] for r in _table(out)] == [str(tmp_path / "photos" / "a.png")]


def test_overwrite_never_reaches_an_input(rotnet_model, tmp_path, capsys):
    # photos/x/a.png would be copied to mirror/x/a.png, itself an input: refused even with --overwrite.
    _photos(tmp_path, "photos/x/a.png", "mirror/x/a.png")
    before = _listing(tmp_path)
    code, _, stderr = _orient(
        capsys, rotnet_model, tmp_path / "mirror", tmp_path / "photos", tmp_path / "mirror/x/a.png", overwrite=True
    )
    assert code == 2 and "holds input images" in stderr
    assert _listing(tmp_path) == before


def test_an_output_that_appears_during_orient_is_not_replaced(rotnet_model, tmp_path, capsys, monkeypatch):
    """Another writer (or a case-insensitive file system folding two names into one) puts a file
    where orient will write after its check: the write itself refuses to replace it."""
    _photos(tmp_path / "photos", "a.png")
    out = tmp_path / "upright"
    read_batches = orient_module.read_batches

    def racing(*args, **kwargs):
        (out / "a.png").write_bytes(b"written meanwhile")
        yield from read_batches(*args, **kwargs)

    monkeypatch.setattr(orient_module, "read_batches", racing)
    code, _, stderr = _orient(capsys, rotnet_model, out, tmp_path / "photos")
    assert code == 2 and f"{out / 'a.png'} appeared while orient ran" in stderr
    assert _listing(out) == {"a.png": b"written meanwhile"}  # kept; no temporary left


def test_an_output_that_appears_during_predict_is_not_replaced(classifier, tmp_path, capsys, monkeypatch):
    _photos(tmp_path, "a.png")
    target = tmp_path / "preds.csv"
    predict = predict_module.predict

    def racing(*args, **kwargs):
        target.write_bytes(b"written meanwhile")
        return predict(*args, **kwargs)

    monkeypatch.setattr(predict_module, "predict", racing)
    code, _, stderr = _run(capsys, "predict", classifier, tmp_path / "a.png", "--output", target, "--device", "cpu")
    assert code == 2 and f"--output {target} appeared while predict ran" in stderr
    assert target.read_bytes() == b"written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "preds.csv"]
