"""make gpu-check's throughput part: the table from the child's rows, its ratios, a broken
ceiling flagged, and the engine against the bar."""

from benchmarks.gpu.throughput_phase import BAR_SAMPLES_PER_S, bar, throughput_table

ROWS = [
    {"workload": "nin-rotation", "side": "model-only", "compile": True, "images_per_s": 100.0},
    {"workload": "nin-rotation", "side": "engine", "compile": True, "images_per_s": 90.0},
    {"workload": "nin-rotation", "side": "plain", "compile": True, "images_per_s": 30.0},
    {"workload": "nin-rotation", "side": "engine", "compile": False, "images_per_s": 60.0},
    {"workload": "resnet50", "side": "plain", "compile": True, "skipped": "time box (3 s left)"},
    {"workload": "resnet18", "side": "model-only", "compile": True, "images_per_s": 100.0},
    {"workload": "resnet18", "side": "engine", "compile": True, "images_per_s": 111.0},
]


def test_throughput_table_its_ratios_and_a_broken_ceiling():
    table = throughput_table(ROWS, compiled=True)
    nin = table["nin-rotation"]
    assert nin["engine"] == 90 and nin["engine_eager"] == 60
    assert nin["engine_over_plain"] == 3.0 and nin["engine_over_model"] == 0.9 and nin["plain_over_model"] == 0.3
    assert "resnet50" not in table
    # An engine past model-only is a measurement bug, flagged and shown in the summary.
    assert not nin["ceiling_broken"] and table["resnet18"]["ceiling_broken"]


def test_the_bar_takes_the_faster_nin_engine():
    assert bar({"resnet18": {"engine": 100.0}}) is None  # no NIN engine figure: no bar
    got = bar({"nin-rotation": {"engine": 900.0, "engine_eager": 1000.0}})
    assert got["engine_samples_per_s"] == 4000 and got["fraction"] == round(4000 / BAR_SAMPLES_PER_S, 3)
    assert got["nin_200_epochs_min"] == round(200 * 45_000 * 4 / 4000 / 60, 1) and BAR_SAMPLES_PER_S == 120_000
