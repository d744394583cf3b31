"""Several nodes with torchrun: DVC runs on node 0 only, and its stage hands the job to a
`rotnet worker` waiting on every other node.

Node 0's stage opens a TCPStore on the rendezvous port + 1 and publishes the job: an id, the
stage and its arguments, the params text (an experiment changes params in node 0's workspace
only), a fingerprint of the code and a hash of each input the stage reads (its dvc.yaml
deps under data/ and models/). Each worker claims its node rank, checks the code and the
inputs, acknowledges, runs the same torchrun with its node rank in its own checkout and reports its
exit status. The rendezvous is static, so global rank 0, the only writer, is on node 0: the
outputs land where DVC expects them, and the other nodes write nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml
from torch.distributed import TCPStore

from rotnet.errors import RotnetError
from rotnet.params import DistributedParams, parse_params
from rotnet.progress import log
from rotnet.stages.entry import CHECKOUT, torchrun_argv
from rotnet.stages.table import BY_NAME, StageSpec

POLL_S = 0.2
CONNECT_S = 5.0  # one connection attempt of a worker; it tries again until a job is open


@dataclass(frozen=True)
class Job:
    id: str
    stage: str
    args: list[str]
    params: str  # node 0's params.yaml, as the stage read it
    code: str  # fingerprint(node 0's checkout)
    nnodes: int
    inputs: dict[str, str] = field(default_factory=dict)  # stage_inputs(node 0's project)


def fingerprint(root: Path) -> str:
    """sha256 over the package's and the stage scripts' sources: every node must run the same code."""
    digest = hashlib.sha256()
    for path in sorted([*(root / "rotnet").rglob("*.py"), *(root / "stages").glob("*.py")]):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def content_hash(path: Path) -> str:
    """sha256 of a file, or over a folder's files (relative names and bytes); 'missing' if absent."""
    if not path.exists():
        return "missing"
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def stage_inputs(spec: StageSpec, args: Sequence[str], root: Path) -> dict[str, str]:
    """The data and models this stage instance reads (its dvc.yaml deps under data/ and
    models/, for the --dataset/--backbone/--head it was given), each with its content hash."""
    dvc_yaml = root / "dvc.yaml"
    if not dvc_yaml.is_file():
        return {}
    entry = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {}).get(spec.name, {})
    given = dict(zip(args[::2], args[1::2], strict=False))
    item = {k: given.get(f"--{k}") for k in ("dataset", "backbone", "head")}
    inputs = {}
    for dep in entry.get("deps", []):
        path = re.sub(r"\$\{item\.(\w+)\}", lambda m: item.get(m.group(1)) or m.group(0), dep)
        if "${" not in path and path.startswith(("data/", "models/")):
            inputs[path] = content_hash(root / path)
    return inputs


def worker_command(endpoint: str, rank: int) -> str:
    return f"rotnet worker --endpoint {endpoint} --node-rank {rank}"


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise RotnetError(f"endpoint {endpoint!r} is not HOST:PORT; give node 0's distributed.rdzv_endpoint")
    return host, int(port)


def open_job(cfg: DistributedParams, spec: StageSpec, args: Sequence[str], params_text: str) -> tuple[TCPStore, Job]:
    """Node 0: the job, published on the control port for the workers to take."""
    host, port = cfg.host_port
    try:
        store = TCPStore(host, port + 1, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=30))
    except RuntimeError as err:
        raise RotnetError(
            f"cannot open the workers' port {host}:{port + 1} ({err}); choose a free one with "
            "distributed.rdzv_endpoint (its port and the next one are used)"
        ) from None
    inputs = stage_inputs(spec, args, Path.cwd())  # DVC runs the stage from the project's root
    job = Job(uuid.uuid4().hex, spec.name, list(args), params_text, fingerprint(CHECKOUT), cfg.nnodes, inputs)
    store.set("job", json.dumps(asdict(job)))
    return store, job


def _value(store: TCPStore, key: str) -> str | None:
    return store.get(key).decode() if store.check([key]) else None


def wait_for_workers(store: TCPStore, job: Job, cfg: DistributedParams) -> None:
    """Node 0: every other node's worker took the job, or a clear error naming the missing ones."""
    missing = list(range(1, job.nnodes))
    deadline = time.monotonic() + cfg.worker_timeout_s
    log(f"waiting for node ranks {missing}: {worker_command(cfg.rdzv_endpoint, missing[0])} (and so on) on each node")
    while missing:
        for rank in range(1, job.nnodes):
            if (why := _value(store, f"{job.id}/refused/{rank}")) is not None:
                raise RotnetError(f"node rank {rank}'s worker refused the job: {why}")
        missing = [r for r in missing if not store.check([f"{job.id}/ack/{r}"])]
        if missing and time.monotonic() > deadline:
            starts = "; ".join(worker_command(cfg.rdzv_endpoint, r) for r in missing)
            raise RotnetError(
                f"no worker took the job for node rank(s) {missing} within distributed.worker_timeout_s "
                f"({cfg.worker_timeout_s:g} s); on each such node, in the project's checkout, run: {starts}"
            )
        time.sleep(POLL_S if missing else 0)


def failed_workers(store: TCPStore, job: Job) -> dict[int, int]:
    statuses = {r: _value(store, f"{job.id}/status/{r}") for r in range(1, job.nnodes)}
    return {r: int(s) for r, s in statuses.items() if s is not None and int(s) != 0}


def lead(cfg: DistributedParams, spec: StageSpec, args: Sequence[str], params: Path) -> int:
    """Node 0's stage: publish the job, wait for the workers, run node 0's torchrun; the
    stage fails when any node's processes fail."""
    store, job = open_job(cfg, spec, args, params.read_text(encoding="utf-8"))
    wait_for_workers(store, job, cfg)
    proc = subprocess.Popen(torchrun_argv(cfg, spec, args))
    while proc.poll() is None:
        if failed := failed_workers(store, job):
            proc.terminate()
            proc.wait()
            raise RotnetError(f"node rank(s) {sorted(failed)} failed (exit status {failed}); see their workers' output")
        time.sleep(POLL_S)
    if proc.returncode:
        return proc.returncode
    # Our processes ended: the others end with them (they make the same collective calls).
    deadline = time.monotonic() + cfg.worker_timeout_s
    while not all(store.check([f"{job.id}/status/{r}"]) for r in range(1, job.nnodes)):
        if time.monotonic() > deadline:
            raise RotnetError(f"node 0 finished but a worker reported no exit status in {cfg.worker_timeout_s:g} s")
        time.sleep(POLL_S)
    if failed := failed_workers(store, job):
        raise RotnetError(f"node rank(s) {sorted(failed)} failed (exit status {failed}); see their workers' output")
    return 0


def take(store: TCPStore, job: Job, rank: int, master: str, root: Path) -> int:
    """A worker: claim the node rank, check the code, acknowledge, run this node's share; its status."""

    def refuse(why: str) -> int:
        store.set(f"{job.id}/refused/{rank}", why)
        log(f"error: refused job {job.id[:8]} ({job.stage}): {why}")
        return 2

    if not 1 <= rank < job.nnodes:
        return refuse(f"node rank {rank} is not one of 1..{job.nnodes - 1} (distributed.nnodes is {job.nnodes})")
    if store.add(f"{job.id}/claim/{rank}", 1) > 1:
        return refuse(f"two workers were started with --node-rank {rank}; give each node its own rank")
    spec = BY_NAME.get(job.stage)
    if spec is None or not (root / spec.script).is_file():
        return refuse(f"{root} has no stages/{job.stage}.py: start rotnet worker in the project's checkout")
    if fingerprint(root) != job.code:
        return refuse(
            f"the code in {root} (rotnet/, stages/) differs from node 0's: check out the same commit on every node"
        )
    if differ := [path for path, digest in job.inputs.items() if content_hash(root / path) != digest]:
        return refuse(
            f"the stage's inputs in {root} differ from node 0's ({', '.join(differ)}): check out node 0's commit "
            "and `dvc pull` there, or run every node from one shared checkout"
        )
    try:
        cfg = parse_params(yaml.safe_load(job.params)).distributed
    except RotnetError as err:
        return refuse(str(err))
    with tempfile.TemporaryDirectory(prefix="rotnet-worker-") as tmp:
        params = Path(tmp) / "params.yaml"  # node 0's params: an experiment's live in its workspace only
        params.write_text(job.params, encoding="utf-8")
        argv = torchrun_argv(cfg, spec, [*job.args, "--params", str(params)], rank, master, root)
        store.set(f"{job.id}/ack/{rank}", socket.gethostname())
        log(f"node rank {rank}: running {job.stage} {' '.join(job.args)} (job {job.id[:8]})")
        status = subprocess.call(argv, cwd=root)
    with contextlib.suppress(RuntimeError):  # node 0 may have stopped already (its processes failed)
        store.set(f"{job.id}/status/{rank}", str(status))
    return status


def work(endpoint: str, rank: int, once: bool = False, root: Path | None = None) -> int:
    """`rotnet worker`: wait for node 0's jobs and run each; with ``once``, one job, its status."""
    host, port = split_endpoint(endpoint)
    root = Path.cwd() if root is None else root
    done: str | None = None
    log(f"node rank {rank}: waiting for jobs from {host}:{port + 1} (node 0's stage opens it)")
    while True:
        try:
            store = TCPStore(host, port + 1, is_master=False, timeout=timedelta(seconds=CONNECT_S))
            job = Job(**json.loads(store.get("job")))
        except RuntimeError:  # no job open yet, or node 0 closed it under us
            time.sleep(1.0)
            continue
        if job.id == done:  # the job just run, still open while node 0 gathers statuses
            del store
            time.sleep(1.0)
            continue
        done = job.id
        status = take(store, job, rank, host, root)
        if once:
            return status
