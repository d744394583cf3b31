"""Several nodes with torchrun workers (rotnet.stages.nodes): the static rendezvous that keeps rank 0 on
DVC's node, the job protocol over a real TCPStore, and two clones of the tiny study as two nodes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from rotnet.errors import RotnetError
from rotnet.params import DistributedParams, parse_params
from rotnet.stages import nodes
from rotnet.stages.entry import CHECKOUT, torchrun_argv
from rotnet.stages.table import BY_NAME
from tests.conftest import tools_env


def free_port_pair() -> int:
    """A port whose next one is free too (the rendezvous and the workers' control port)."""
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("localhost", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("localhost", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two consecutive free ports")


def _cfg(port: int, **extra) -> DistributedParams:
    return DistributedParams(
        nnodes=2, rdzv_backend="static", rdzv_endpoint=f"localhost:{port}", worker_timeout_s=20, **extra
    )


def test_across_nodes_the_rendezvous_is_static_and_names_node_0():
    cfg = _cfg(29500, nproc_per_node=4)
    argv = torchrun_argv(cfg, BY_NAME["pretrain"], ["--dataset", "d"], node_rank=1, master="node0.example")
    assert "--nnodes=2" in argv and "--nproc_per_node=4" in argv and "--node_rank=1" in argv
    assert "--rdzv_backend=static" in argv and "--master_addr=node0.example" in argv and "--master_port=29500" in argv
    assert not any(a.startswith("--rdzv_endpoint") for a in argv)
    assert "--node_rank=0" in torchrun_argv(cfg, BY_NAME["pretrain"], [])  # DVC's node: always node 0


def test_params_refuse_what_would_move_the_writer_off_dvcs_node():
    with pytest.raises(RotnetError, match=r"rdzv_backend c10d with nnodes > 1.*rdzv_backend: static"):
        parse_params({"distributed": {"nnodes": 2}})
    with pytest.raises(RotnetError, match=r"node_rank is gone.*rotnet worker --endpoint HOST:PORT --node-rank R"):
        parse_params({"distributed": {"node_rank": 1}})
    assert parse_params({"distributed": {"nnodes": 2, "launcher": "srun"}}).distributed.world_size == 2
    with pytest.raises(RotnetError, match="launcher"):
        parse_params({"distributed": {"launcher": "mpirun"}})
    with pytest.raises(RotnetError, match="rdzv_endpoint"):
        parse_params({"distributed": {"rdzv_endpoint": "node0"}})


def test_the_fingerprint_follows_the_code(tmp_path):
    (tmp_path / "rotnet").mkdir()
    (tmp_path / "stages").mkdir()
    (tmp_path / "rotnet" / "a.py").write_text("x = 1\n")
    before = nodes.fingerprint(tmp_path)
    (tmp_path / "data.csv").write_text("not code\n")
    assert nodes.fingerprint(tmp_path) == before
    (tmp_path / "stages" / "pretrain.py").write_text("")
    assert nodes.fingerprint(tmp_path) != before


@pytest.fixture
def fake_torchrun(monkeypatch, tmp_path):
    """Each node's "torchrun": a short process that records what it was given and exits with
    the status the test sets for its node rank."""
    status = {0: 0, 1: 0}

    def argv(cfg, spec, args, node_rank=0, master=None, checkout=CHECKOUT):
        record = tmp_path / f"node{node_rank}.json"
        params = args[args.index("--params") + 1] if "--params" in args else "params.yaml"
        code = (
            "import json, os, pathlib, sys; "
            f"p = pathlib.Path({params!r}); "
            f"pathlib.Path({str(record)!r}).write_text(json.dumps({{'args': sys.argv[1:], 'cwd': os.getcwd(), "
            f"'master': {master!r}, 'params': p.read_text() if p.is_file() else None}})); "
            f"sys.exit({status[node_rank]})"
        )
        return [sys.executable, "-c", code, *args]

    monkeypatch.setattr(nodes, "torchrun_argv", argv)
    return status


def _worker(port: int, root: Path = CHECKOUT) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(nodes.work(f"localhost:{port}", 1, once=True, root=root)))
    thread.start()
    return thread, result


def test_a_worker_takes_the_job_runs_node_0s_params_and_reports(tmp_path, fake_torchrun, monkeypatch):
    port = free_port_pair()
    params = tmp_path / "exp.yaml"
    text = f"seed: 7\ndistributed: {{nnodes: 2, rdzv_backend: static, rdzv_endpoint: 'localhost:{port}'}}\n"
    params.write_text(text)
    monkeypatch.chdir(tmp_path)
    thread, status = _worker(port)
    assert nodes.lead(_cfg(port), BY_NAME["pretrain"], ["--dataset", "d"], params) == 0
    thread.join(10)
    assert status == [0]
    worker = json.loads((tmp_path / "node1.json").read_text())
    # The worker runs the stage with node 0's params (a copy), in its own checkout, joining node 0's host.
    assert worker["params"] == text and worker["args"][:2] == ["--dataset", "d"]
    assert worker["cwd"] == str(CHECKOUT) and worker["master"] == "localhost"
    assert json.loads((tmp_path / "node0.json").read_text())["args"] == ["--dataset", "d"]


def test_a_failing_worker_fails_the_stage(tmp_path, fake_torchrun):
    fake_torchrun[1] = 5
    port = free_port_pair()
    (tmp_path / "p.yaml").write_text("{}\n")
    thread, status = _worker(port)
    with pytest.raises(RotnetError, match=r"node rank\(s\) \[1\] failed \(exit status \{1: 5\}\)"):
        nodes.lead(_cfg(port), BY_NAME["pretrain"], [], tmp_path / "p.yaml")
    thread.join(10)
    assert status == [5]


def test_a_worker_with_other_code_refuses_the_job(tmp_path, fake_torchrun):
    port = free_port_pair()
    (tmp_path / "p.yaml").write_text("{}\n")
    other = tmp_path / "other"
    (other / "stages").mkdir(parents=True)
    (other / "stages" / "pretrain.py").write_text("# an older checkout\n")
    thread, status = _worker(port, other)
    with pytest.raises(RotnetError, match=r"node rank 1's worker refused the job: the code in .*other.* differs"):
        nodes.lead(_cfg(port), BY_NAME["pretrain"], [], tmp_path / "p.yaml")
    thread.join(10)
    assert status == [2] and not (tmp_path / "node0.json").exists()  # node 0 never started


def test_no_worker_is_an_error_that_says_what_to_start(tmp_path, fake_torchrun):
    port = free_port_pair()
    (tmp_path / "p.yaml").write_text("{}\n")
    cfg = DistributedParams(nnodes=3, rdzv_backend="static", rdzv_endpoint=f"localhost:{port}", worker_timeout_s=0.3)
    expected = (
        rf"node rank\(s\) \[1, 2\] within distributed.worker_timeout_s \(0.3 s\).*"
        rf"rotnet worker --endpoint localhost:{port} --node-rank 1; "
        rf"rotnet worker --endpoint localhost:{port} --node-rank 2"
    )
    with pytest.raises(RotnetError, match=expected):
        nodes.lead(cfg, BY_NAME["pretrain"], [], tmp_path / "p.yaml")


def test_a_bad_endpoint_is_refused():
    with pytest.raises(RotnetError, match="not HOST:PORT"):
        nodes.work("node0", 1, once=True)


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_mtime_ns, p.lstat().st_size)
        for folder in ("models", "metrics", "logs", "checkpoints", "data")
        for p in (root / folder).rglob("*")
    }


@pytest.mark.slow
@pytest.mark.usefixtures("needs_dvc")
def test_two_clones_as_two_nodes_one_dag(tiny_study, tmp_path):
    """Node 0 (clone A) runs `dvc repro` of a training stage; node 1 (clone B, the same commit
    and inputs) runs `rotnet worker --once`. Rank 0 writes in A only; DVC there is clean."""
    a, b = tiny_study.clone(tmp_path / "a"), tiny_study.clone(tmp_path / "b")
    before = _files(b)
    port = free_port_pair()
    params = yaml.safe_load((a / "params.yaml").read_text())
    dist = {"nnodes": 2, "rdzv_backend": "static", "rdzv_endpoint": f"localhost:{port}", "worker_timeout_s": 60}
    params["distributed"].update(dist)
    params["study"]["seeds"] = [0]  # one training seed is enough to see where each node's share went
    (a / "params.yaml").write_text(yaml.safe_dump(params))  # node 0's workspace only: the worker gets a copy
    worker = subprocess.Popen(
        [sys.executable, "-m", "rotnet.cli", "worker", "--once", "--node-rank", "1", "--endpoint", f"localhost:{port}"],
        cwd=b,
        env=tools_env(PYTHONDONTWRITEBYTECODE="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stage = "pretrain@cifar10-nin"
    try:
        out = tiny_study.run(["dvc", "repro", stage], a)
        worker_out, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, worker_out
    assert f"Running stage '{stage}'" in out and "node rank 1: running pretrain" in worker_out
    assert json.loads((a / "models/cifar10/nin/pretrain/run.json").read_text())["processes"] == 2
    assert "up to date" in tiny_study.run(["dvc", "status", stage], a)
    assert _files(b) == before  # node 1 trained, and wrote nothing


def test_a_worker_whose_inputs_differ_refuses_the_job(tmp_path, fake_torchrun, monkeypatch):
    """A queued experiment may change the data on node 0 only: a worker in its own clone must
    not train on other data without a word."""
    lead, other = tmp_path / "lead", tmp_path / "other"
    for root, text in ((lead, "node 0's"), (other, "older")):
        for folder in ("rotnet", "stages"):
            shutil.copytree(CHECKOUT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(CHECKOUT / "dvc.yaml", root / "dvc.yaml")
        (root / "data/prepared/d").mkdir(parents=True)
        (root / "data/prepared/d/meta.json").write_text(text)
    inputs = nodes.stage_inputs(BY_NAME["probe"], ["--dataset", "d", "--backbone", "b"], lead)
    assert set(inputs) >= {"data/prepared/d", "models/d/b/pretrain/model.pt"}
    assert inputs["models/d/b/pretrain/model.pt"] == "missing" and "requirements.lock" not in inputs
    port = free_port_pair()
    (tmp_path / "p.yaml").write_text("{}\n")
    monkeypatch.chdir(lead)
    thread, status = _worker(port, other)
    with pytest.raises(RotnetError, match=r"inputs in .*other differ from node 0's \(data/prepared/d\)"):
        nodes.lead(_cfg(port), BY_NAME["pretrain"], ["--dataset", "d", "--backbone", "b"], tmp_path / "p.yaml")
    thread.join(10)
    assert status == [2] and not (tmp_path / "node0.json").exists()
