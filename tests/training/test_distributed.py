"""Two processes on the CPU (gloo) through torchrun write what one process writes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rotnet.data.prepared import save_prepared
from rotnet.errors import RotnetError
from rotnet.params import DistributedParams, parse_params
from rotnet.stages.entry import torchrun_argv
from rotnet.stages.table import BY_NAME
from rotnet.training.distributed import World, check_batch
from tests.synthetic import dataset

ROOT = Path(__file__).resolve().parents[2]


def _project(root: Path) -> None:
    data = dataset(n_train=1024, n_val=128, n_test=128, classes=4, size=16)
    save_prepared(root / "data/prepared/cifar10", {"train": data.train, "val": data.val, "test": data.test}, data.meta)
    params = {
        "study": {"datasets": ["cifar10"], "backbones": ["nin"]},
        "runtime": {"device": "cpu"},
        "backbones": {"nin": {"width": 16}},
        "pretrain": {"epochs": 2, "batch_size": 64, "schedule": {"milestones": [1]}},
        "probe": {"epochs": 2, "batch_size": 64, "schedule": {"milestones": [1]}, "hidden": 32},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _outputs(root: Path) -> list[str]:
    # TensorBoard names event files by host, time and pid: compare their folders only.
    return sorted(
        str(p.parent.relative_to(root)) + "/<events>" if "tfevents" in p.name else str(p.relative_to(root))
        for folder in ("models", "metrics", "checkpoints", "logs")
        for p in (root / folder).rglob("*")
        if p.is_file()
    )


@pytest.mark.slow
def test_two_gloo_processes_write_the_same_files_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for root in (one, two):
        root.mkdir()
        _project(root)
    for stage in ("pretrain", "probe"):
        script = str(ROOT / "stages" / f"{stage}.py")
        args = ["--dataset", "cifar10", "--backbone", "nin"]
        subprocess.run([sys.executable, script, *args], cwd=one, check=True, capture_output=True, timeout=300)
        # The command a stage starts itself with (torchrun_argv), on one node.
        cmd = torchrun_argv(
            DistributedParams(nproc_per_node=2, nnodes=1, rdzv_endpoint=f"localhost:{_free_port()}"),
            BY_NAME[stage],
            args,
        )
        done = subprocess.run(cmd, cwd=two, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert _outputs(one) == _outputs(two)
    m1 = json.loads((one / "models/cifar10/nin/pretrain/run.json").read_text())
    m2 = json.loads((two / "models/cifar10/nin/pretrain/run.json").read_text())
    assert (m1["processes"], m2["processes"]) == (1, 2)
    # Per-process BatchNorm statistics make the figures differ a little (the exact
    # check is test_one_ddp_step_matches_one_process below).
    assert abs(m1["rotation_test_acc"] - m2["rotation_test_acc"]) <= 15 and m2["rotation_test_acc"] > 40
    p1 = json.loads((one / "metrics/runs/cifar10/nin/probe.json").read_text())
    p2 = json.loads((two / "metrics/runs/cifar10/nin/probe.json").read_text())
    assert abs(p1["best"]["test_acc"] - p2["best"]["test_acc"]) <= 15 and p2["best"]["test_acc"] > 40


def test_global_batch_must_divide_by_the_processes():
    assert check_batch(128, World(0, 2, 0), "x") == 64
    with pytest.raises(RotnetError, match="must divide by the 3 processes"):
        check_batch(128, World(0, 3, 0), "pretrain")


def test_torchrun_command_from_params():
    cfg = parse_params({"distributed": {"nproc_per_node": 4, "nnodes": 2, "rdzv_backend": "static"}}).distributed
    argv = torchrun_argv(cfg, BY_NAME["pretrain"], ["--dataset", "cifar10"], node_rank=1)
    assert argv[1:3] == ["-m", "torch.distributed.run"]
    assert "--nnodes=2" in argv and "--nproc_per_node=4" in argv and "--node_rank=1" in argv
    assert argv[-3:] == [str(ROOT / "stages/pretrain.py"), "--dataset", "cifar10"]  # this checkout's script
    with pytest.raises(RotnetError, match="node_rank is gone"):  # node 0 is DVC's; the others are workers
        parse_params({"distributed": {"nnodes": 2, "rdzv_backend": "static", "node_rank": 1}})


def _ddp_step(rank: int, world: int, port: int, out: str, kind: str = "supervised") -> None:
    """One training step of NIN (BatchNorm in eval mode) on this process's share of a global
    batch; ``multitask``: with the rotation head and loss (supervised_rot), two outputs."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from rotnet.data.device import DeviceDataset
    from rotnet.models.registry import create_backbone
    from rotnet.params import AugmentParams
    from rotnet.training.tasks import MultitaskRotationTask, SupervisedTask, Task, targets_of

    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://localhost:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    backbone = create_backbone("nin", 4, options={"width": 8})
    task: Task = (
        SupervisedTask(backbone, 4)
        if kind == "supervised"
        else MultitaskRotationTask(backbone, 4, [0, 90, 180, 270], 0.5)
    )
    if world > 1:
        task.wrap(DistributedDataParallel)
    task.model.eval()  # BN uses its running statistics: no per-process batch statistics
    data = DeviceDataset.from_prepared(dataset(n_train=64), torch.device("cpu"))
    # No random augmentation: each process augments its share with its own stream.
    plain = AugmentParams(crop_padding=0, flip=False)
    batch = next(data.train.train_batches(32, plain, 4, seed=3, epoch=1, shard=(rank, world)))
    logits, targets = task.forward(batch.x, batch.y)
    loss = sum(
        task.loss_weight(o) * torch.nn.functional.cross_entropy(logits[o], targets_of(targets, o)) for o in logits
    )
    loss.backward()
    if rank == 0:
        torch.save({k: p.grad for k, p in task.model.named_parameters()}, out)
    if world > 1:
        dist.destroy_process_group()


@pytest.mark.parametrize("kind", ["supervised", "multitask"])
def test_one_ddp_step_matches_one_process(tmp_path, kind):
    import torch
    import torch.multiprocessing as mp

    _ddp_step(0, 1, 0, str(tmp_path / "one.pt"), kind)
    mp.spawn(_ddp_step, args=(2, _free_port(), str(tmp_path / "two.pt"), kind), nprocs=2, join=True)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys() and len(one) > 10
    for name in one:
        # DDP averages the two half-batch gradients: the whole batch's gradient.
        assert torch.allclose(one[name], two[name], rtol=1e-4, atol=1e-6), name
