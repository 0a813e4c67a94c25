"""Run a prediction in a page without fighting the training thread for CPU cores.

`torch.set_num_threads` is process-wide in name only: with PyTorch's OpenMP
backend every thread keeps its own count, and a NEW thread starts with the last
value anyone set. A CPU training run calls `torch.set_num_threads(cores - 1)`
in its worker thread, and Streamlit runs every page in a fresh script thread,
so without care a student's prediction would start `cores - 1` threads of its
own next to the trainer's `cores - 1` (on a 16-core server: 30 busy threads on
16 cores, and both slow down).

One picture (the Attention page) always uses SINGLE_PICTURE_THREADS = 1: its
matrices are 17 tokens wide, so splitting them over threads gains nothing, and
with a class uploading at once every extra OpenMP team spins on the same few
cores (measured: with 2 threads per prediction, ten simultaneous uploads on a
2-core server took over a second each inside the model instead of milliseconds).

`inference_threads(scheduler, device)` picks a count for batch work (evaluating
the validation split) that leaves the trainer alone: the one core the scheduler keeps free while a CPU run trains, or a few
cores when nothing trains. `torch_threads(count)` applies it to the current
(script) thread only for the duration of the call and restores it afterwards.
No lock is shared with training: the scheduler's reads are quick snapshots.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from vitcore.train.scheduler import available_cpu_cores, training_threads_for

IDLE_INFERENCE_THREADS = 4  # most threads one batch evaluation uses when no run trains
SINGLE_PICTURE_THREADS = 1  # one 64x64 picture: its tensors are tiny, so extra threads only add hand-over cost


def inference_threads(scheduler, device: torch.device) -> int:
    """Torch threads for one prediction/evaluation in a page, given what trains right now."""
    cores = available_cpu_cores()
    if device.type == "cpu" and scheduler.running_count() > 0:
        busy = min(cores, training_threads_for(device) * scheduler.running_count())
        return max(1, cores - busy)  # the cores the trainers leave free (at least one)
    return max(1, min(cores, IDLE_INFERENCE_THREADS))


@contextmanager
def torch_threads(count: int):
    """Use `count` torch threads in THIS thread inside the block, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
