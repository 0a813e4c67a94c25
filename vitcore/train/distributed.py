"""Data-parallel training across processes (`torchrun --nproc_per_node=N -m vitcore train ...`).

How the pieces fit together:
- `torchrun` starts N copies of the program and gives each one the environment
  variables RANK (0..N-1), WORLD_SIZE (N) and LOCAL_RANK (index on this machine).
- `init_distributed(requested_device)` reads them, picks the device
  (cuda:LOCAL_RANK on GPUs, else the CPU), joins the process group
  (backend "nccl" on CUDA, "gloo" on the CPU) and returns a `DistributedContext`.
- `fit(..., distributed=context)` then wraps the model in
  `torch.nn.parallel.DistributedDataParallel`: every rank runs forward/backward
  on its own slice of the global batch, and DDP averages the gradients, so all
  ranks take the same optimizer step and their weights stay identical.

Sharding (`rank_epoch_order`): every rank draws the SAME shuffled order of the
training images (same seeded generator), and torch's `DistributedSampler`
(shuffle off, it only shards) hands rank r the positions r, r+N, r+2N, ... of
that order. Rank r's step-k batch therefore lies inside global batch k, and the
union over ranks IS global batch k: a run on N processes sees exactly the same
global batches as a single process with the same `batch_size` (the per-rank
batch is batch_size / N).

Nothing here is global state: the context is an ordinary object passed in.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from vitcore.data.dataset import ImageSplit
from vitcore.device import resolve_device
from vitcore.errors import VitcoreError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # set by torchrun for every process it starts


class DistributedSetupError(VitcoreError):
    """A distributed run cannot start (bad batch size, missing torchrun variables...)."""


@dataclass
class DistributedContext:
    """Where this process sits in a multi-process run."""

    rank: int  # this process's index among all processes, 0..world_size-1; rank 0 writes files and prints
    world_size: int  # number of processes training together
    local_rank: int  # index among the processes on this machine (selects the GPU)
    device: torch.device  # where this process trains: cuda:local_rank on GPUs, else cpu
    backend: str  # process-group backend: "nccl" (CUDA) or "gloo" (CPU)

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes the run folder and prints."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the torchrun variables RANK, WORLD_SIZE and LOCAL_RANK are all set."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def device_for_rank(requested: str, local_rank: int) -> torch.device:
    """The device of one rank: "auto"/"cuda" -> cuda:local_rank when CUDA exists, "cpu" -> cpu.

    An explicit "cuda:K" is kept as given (the user placed the process themselves).
    MPS cannot be shared by several processes, so "auto" never picks it here.
    """
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if requested == "auto":
        return torch.device("cpu")
    device = resolve_device(requested)
    if device.type == "mps":
        raise DistributedSetupError("distributed training supports CUDA or the CPU, not MPS")
    return device


def init_distributed(requested_device: str = "auto") -> DistributedContext:
    """Join the process group described by torchrun's environment variables."""
    if not launched_by_torchrun():
        raise DistributedSetupError("distributed training needs RANK, WORLD_SIZE and LOCAL_RANK; launch it with torchrun")
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    device = device_for_rank(requested_device, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device, backend=backend)


def shutdown_distributed(context: DistributedContext | None) -> None:
    """Leave the process group (call once at the end of the program, on every rank)."""
    if context is not None and dist.is_initialized():
        dist.destroy_process_group()


def per_rank_batch_size(global_batch_size: int, world_size: int) -> int:
    """batch_size is the GLOBAL batch: each rank takes an equal share of it."""
    if global_batch_size % world_size != 0:
        raise DistributedSetupError(
            f"batch_size {global_batch_size} must be divisible by the number of processes ({world_size}); "
            f"try {max(world_size, global_batch_size // world_size * world_size)}"
        )
    return global_batch_size // world_size


def rank_epoch_order(epoch_order: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """This rank's share of the epoch's shuffled order, via DistributedSampler (shuffle off: it only shards).

    Rank r gets positions r, r+W, r+2W, ... of `epoch_order` (W = world size); the
    sampler repeats a few leading positions so every rank gets the same count.
    """
    sampler = DistributedSampler(
        range(len(epoch_order)), num_replicas=context.world_size, rank=context.rank, shuffle=False, drop_last=False
    )
    positions = torch.tensor(list(iter(sampler)), dtype=torch.long)  # (ceil(N / W),)
    return epoch_order[positions]  # (ceil(N / W),) image indices for this rank


def shard_split(split: ImageSplit, context: DistributedContext) -> ImageSplit:
    """This rank's contiguous chunk of a split (used to share the validation work)."""
    chunks = torch.tensor_split(torch.arange(len(split)), context.world_size)
    indices = chunks[context.rank]  # (about N / W,)
    device_indices = indices.to(split.images.device)
    return ImageSplit(
        images=split.images[device_indices],  # (n, 3, S, S)
        labels=split.labels[device_indices],  # (n,)
        names=[split.names[i] for i in indices.tolist()],
        masks=None if split.masks is None else split.masks[device_indices],
    )


def all_reduce_sums(values: list[float], context: DistributedContext) -> list[float]:
    """Element-wise sum of `values` over all ranks (float64, so counts stay exact)."""
    communication_device = context.device if context.backend == "nccl" else torch.device("cpu")
    totals = torch.tensor(values, dtype=torch.float64, device=communication_device)  # (K,)
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return [float(value) for value in totals.cpu()]


def any_rank(flag: bool, context: DistributedContext) -> bool:
    """True on every rank when `flag` is True on at least one rank (e.g. "stop requested")."""
    return all_reduce_sums([1.0 if flag else 0.0], context)[0] > 0


def broadcast_buffers_from_main(model: torch.nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's buffers to every rank (a collective: call it on all ranks).

    DDP keeps the PARAMETERS identical, but buffers such as BatchNorm's running mean and variance
    are updated by each rank from its own share of the batch. Called before every evaluation and
    checkpoint, so all ranks evaluate, and rank 0 saves, the same model.
    """
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def state_dict_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """sha1 of every tensor of a state dict (names and exact bytes): equal fingerprints = identical weights."""
    digest = hashlib.sha1()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def parameter_fingerprint(model: torch.nn.Module) -> str:
    """`state_dict_fingerprint` of a model's parameters and buffers."""
    return state_dict_fingerprint(model.state_dict())


def gather_fingerprints(model: torch.nn.Module, context: DistributedContext) -> list[str]:
    """Every rank's `parameter_fingerprint`, in rank order (a collective: call it on all ranks)."""
    fingerprints: list[str | None] = [None] * context.world_size
    dist.all_gather_object(fingerprints, parameter_fingerprint(model))
    return [str(fingerprint) for fingerprint in fingerprints]
