"""Data-parallel training on PyTorch's own engine: DDP in processes started by torchrun.

A stage run by torchrun finds RANK/WORLD_SIZE/LOCAL_RANK in its environment; a stage run
plainly is a world of one. Each process holds the whole dataset on its device and takes
a disjoint share of every global batch; gradients are averaged by DDP; only rank 0
writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rotnet.errors import RotnetError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In place: the sum (or max) over processes; a no-op in a world of one."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def init_world(device_kind: str) -> World:
    """Join the process group torchrun set up, if any; one process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def close_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def check_batch(batch_size: int, world: World, what: str) -> int:
    """The per-process share of a global batch; it must divide evenly."""
    if batch_size % world.size:
        raise RotnetError(
            f"{what}: batch_size {batch_size} is the global batch and must divide by the {world.size} processes; "
            f"use a multiple of {world.size}"
        )
    return batch_size // world.size
