"""`rotnet predict` (rotnet.inference.predict): top-k classes of any images, and the three output formats."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from rotnet.cli import main
from rotnet.errors import RotnetError
from rotnet.inference.predict import predict, render
from rotnet.models.registry import create_backbone
from tests.inference.files import save_model
from tests.synthetic import dataset

CPU = torch.device("cpu")


def test_predict_any_size_and_format_with_top_k_and_class_names(classifier, tmp_path):
    Image.fromarray(np.zeros((30, 20, 3), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "gray.jpg")
    rows = predict(classifier, [str(tmp_path)], CPU, top_k=3)
    assert [r["file"].split("/")[-1] for r in rows] == ["gray.jpg", "wide.png"]
    for r in rows:
        preds = r["predictions"]
        assert len(preds) == 3 and {p["class"] for p in preds} <= {"c0", "c1", "c2", "c3"}
        probs = [p["probability"] for p in preds]
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    table = list(csv.reader(render(rows, "csv", 3).splitlines()))
    assert table[0] == ["file", "class1", "p1", "class2", "p2", "class3", "p3", "error"] and len(table) == 3
    assert json.loads(render(rows, "json", 3))[0]["predictions"][0]["class"] in {"c0", "c1", "c2", "c3"}


def test_bad_images_get_their_own_error_and_the_rest_goes_on(classifier, tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "good.png")
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.jpg").write_text("not an image")
    Image.new("L", (400, 400)).save(tmp_path / "huge.png")
    rows = {r["file"].split("/")[-1]: r for r in predict(classifier, [str(tmp_path)], CPU, max_pixels=100_000)}
    assert "predictions" in rows["good.png"]
    assert "not a readable image" in rows["truncated.png"]["error"]
    assert "not a readable image" in rows["notes.jpg"]["error"]
    assert "over the limit" in rows["huge.png"]["error"]
    rows = {r["file"].split("/")[-1]: r for r in predict(classifier, [str(tmp_path / "missing.png")], CPU)}
    assert rows["missing.png"]["error"] == "no such file"


def test_cli_predict_writes_csv(classifier, tmp_path, capsys):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.png")
    main(
        [
            "predict",
            str(classifier),
            str(tmp_path / "x.png"),
            "--format",
            "csv",
            "--top-k",
            "2",
            "--output",
            str(tmp_path / "p.csv"),
            "--device",
            "cpu",
        ]
    )
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("file,class1,p1,class2,p2") and len(lines) == 2


def test_predict_needs_a_classifier(tmp_path):
    data = dataset(n_train=16, n_val=4, n_test=4)
    rotnet = save_model(tmp_path / "r.pt", create_backbone("nin", 4, options={"width": 16}), "pretrain", 4, data)
    with pytest.raises(RotnetError, match="holds a 'pretrain' model; predict needs a supervised, finetune or"):
        predict(rotnet, [str(tmp_path)], CPU)


def test_top_k_is_capped_at_the_number_of_classes(classifier, tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.png")
    (row,) = predict(classifier, [str(tmp_path / "x.png")], CPU, top_k=9)
    assert len(row["predictions"]) == 4
    assert abs(sum(p["probability"] for p in row["predictions"]) - 1) < 1e-3


def test_the_text_table_aligns_columns_and_leaves_missing_cells_empty():
    rows = [
        {
            "file": "a.png",
            "predictions": [{"class": "cat", "probability": 0.75}, {"class": "dog", "probability": 0.25}],
        },
        {"file": "long_name.png", "error": "no such file"},
    ]
    lines = render(rows, "table", 2).splitlines()
    assert lines[0].split() == ["file", "class1", "p1", "class2", "p2", "error"]
    assert lines[1].split() == ["a.png", "cat", "0.7500", "dog", "0.2500"]
    assert lines[2].split() == ["long_name.png", "no", "such", "file"]
    assert lines[0].index("class1") == lines[1].index("cat") == len("long_name.png") + 2
    assert list(csv.reader(render(rows, "csv", 2).splitlines()))[2] == ["long_name.png", "", "", "", "", "no such file"]
    assert json.loads(render(rows, "json", 2)) == rows
