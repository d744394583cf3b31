"""make gpu-check's parts (benchmarks/gpu_check.py is the entry).

- ``common``: the paths, the log, the device, file naming and the paper's schedule scaling;
- ``children``: a part in a child process with its own deadline, its rows read back;
- ``throughput_phase``: the throughput table (benchmarks/throughput.py) and the engine's bar;
- ``costs_phase``: the per-backbone cost probe (benchmarks/costs.py) and the study's GPU-hours;
- ``study_phase``: the data, then the paper-protocol NIN study in what is left of the box;
- ``summary``: the printed summary;
- ``parent``: the box across the parts, and the one JSON (rotnet/report/gpu_check_schema.py).

And benchmarks/paper_run.py's (``gpu_check.py --paper``):
- ``paper_params``: params.yaml with the profile merged in, cut to NIN-4 on CIFAR-10;
- ``paper_box``: in the child, each stage's progress and the stop after a checkpoint;
- ``paper_report``: Table 1 beside the paper's, the recipe of the calls left, the summary.
"""
