"""The gpu-check result's schema, on its own: what ``problems`` finds in a result (the reader
that raises on them: test_gpu_check.py; the writer that follows it: tests/benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path

from rotnet.report import gpu_check_schema as schema

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def committed() -> dict:
    return json.loads((COMMITTED / "2026-11-28-nvidia-h200.json").read_text())


def test_every_committed_result_follows_the_schema():
    results = sorted(COMMITTED.glob("*.json"))
    assert results, "benchmarks/results holds the committed gpu-check results"
    for path in results:
        assert schema.problems(json.loads(path.read_text())) == [], path


def test_a_missing_key_a_renamed_one_and_a_wrong_type_are_each_named():
    broken = committed()
    del broken["study"]["status"]
    broken["throughput"]["tabel"] = broken["throughput"].pop("table")  # a renamed key
    broken["elapsed_s"] = "long"
    found = schema.problems(broken)
    assert "result.study.status: missing" in found
    assert "result.throughput.tabel: not in the schema" in found and "result.throughput.table: missing" in found
    assert "result.elapsed_s: expected float, got str" in found
    assert schema.problems([]) == ["result: expected an object, got list"]


def test_optional_keys_may_be_absent_and_ints_pass_as_floats_but_bools_do_not():
    result = committed()
    assert "costs" not in result  # the first result predates the cost probe: still a result
    assert schema.problems({**result, "elapsed_s": 470}) == []  # JSON writes 470.0 as 470
    assert schema.problems({**result, "elapsed_s": True}) == ["result.elapsed_s: expected float, got bool"]


def test_typed_dicts_are_told_from_plain_dicts():
    assert schema.is_typed_dict(schema.GpuCheckResult) and schema.is_typed_dict(schema.Phase)
    assert not schema.is_typed_dict(dict) and not schema.is_typed_dict(dict[str, float])
