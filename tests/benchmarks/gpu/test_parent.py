"""make gpu-check's parent: the overall status says what is missing."""

from benchmarks.gpu.parent import overall_status


def result(phases: dict, rows: list, cost_table: dict) -> dict:
    return {"phases": phases, "throughput": {"rows": rows}, "costs": {"table": cost_table}}


def test_the_status_is_complete_only_when_every_part_and_measurement_is():
    done = {"status": "complete", "seconds": 1.0}
    measured = [{"workload": "nin-rotation", "side": "engine", "images_per_s": 1.0}]
    assert overall_status(result({"prepare": done, "study": done}, measured, {"nin": {"supervised": {}}})) == (
        "partial: 1 cost measurement(s) skipped or failed"
    )
    stopped = {"status": "stopped at the time box", "seconds": 9.0}
    assert overall_status(result({"prepare": done, "study": stopped}, measured, {})) == (
        "partial: study stopped at the time box"
    )
    late = {"workload": "nin-rotation", "side": "plain", "skipped": "time box"}
    assert overall_status(result({"prepare": done}, [*measured, late], {})) == (
        "partial: 1 throughput measurement(s) skipped or failed"
    )
    # a side the workload does not have (SimCLR's plain) leaves the run complete; its time box would not
    absent = {"workload": "nin-simclr", "side": "plain", "skipped": "no plain side for simclr: ..."}
    assert overall_status(result({"prepare": done}, [*measured, absent], {})) == "complete"
    late = {"workload": "nin-simclr", "side": "engine", "skipped": "time box"}
    assert overall_status(result({"prepare": done}, [*measured, absent, late], {})).startswith("partial: 1 ")
    assert overall_status(result({"prepare": done}, measured, {"nin": {"rotation": {"images_per_s": 2.0}}})) == (
        "complete"
    )
