"""make gpu-check's study part: the epochs that fit the box in the paper's ratio, or those
asked for, and whether the study compiles."""

from benchmarks.gpu.study_phase import plan_epochs, study_compile, study_epochs


def test_epochs_fit_the_box_in_the_papers_ratio():
    assert plan_epochs(100, pre_epoch_s=2, probe_epoch_s=1) == (40, 20)
    assert plan_epochs(1e9, 2, 1) == (200, 100)  # never past the paper's
    assert plan_epochs(5, 2, 1) == (2, 1)  # less than one 2:1 round: one probe epoch


def test_the_study_fills_what_is_left_less_what_it_keeps_back_or_runs_the_epochs_asked_for():
    cal = {"pretrain_epoch_s": 2.0, "probe_epoch_s": 1.0, "probe_eval_s": 1.0}
    # 100 s left: a tenth, 3 probe evaluations and 3 s kept back; 84 s fit 16 + 2 x 16 epochs.
    assert study_epochs(None, cal, 100.0) == plan_epochs(100 - 10 - 3 - 3, 2.0, 1.0) == (32, 16)
    assert study_epochs([7, 3], cal, 1.0) == (7, 3)  # asked for: the box still stops the run


def test_the_study_compiles_when_that_made_the_nin_engine_15_percent_faster():
    table = {"nin-rotation": {"engine": 90.0, "engine_eager": 60.0}}
    assert study_compile(table, "auto") == "on"  # 1.5x over eager
    assert study_compile({"nin-rotation": {"engine": 61, "engine_eager": 60}}, "auto") == "off"
    assert study_compile({}, "auto") == "off"  # no table: eager
    assert study_compile(table, "off") == "off"
