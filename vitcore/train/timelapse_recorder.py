"""Record a ViT run's attention time-lapse while it trains: a probe snapshot after initialisation and after every epoch.

The training loop calls `record(epoch)`; the recorder owns the probe pictures (chosen once with a fixed seed
from the validation split, see vitcore.explain.probe) and appends one line per call to the run's
timelapse.jsonl (see vitcore.runs.timelapse). Ten pictures through the model once an epoch: well under 1 %
of an epoch (bench/timelapse_cost.py measures it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vitcore.data.dataset import ImageSplit, to_float
from vitcore.explain.attention_maps import is_attention_model
from vitcore.explain.probe import choose_probe_indices, snapshot
from vitcore.runs.timelapse import ProbePictures, load_probe_pictures, read_frames, save_probe_pictures, snapshot_record


class TimelapseRecorder:
    """Appends probe snapshots of one model to one run folder."""

    def __init__(self, run, model: nn.Module, pictures: ProbePictures, device: torch.device):
        self.run = run  # the Run whose folder receives timelapse.jsonl
        self.model = model  # the model being trained (not a DDP wrapper)
        self.probe_images = to_float(torch.from_numpy(pictures.images).to(device))  # (P, 3, S, S) in [0, 1]

    def recorded_epochs(self) -> set[int]:
        """Epochs already in the file (a resumed run does not record its untrained model again)."""
        return {frame.epoch for frame in read_frames(self.run)}

    def record(self, epoch: int) -> None:
        """Append the snapshot of the model as it is now, after `epoch` epochs (0 = untrained)."""
        self.run.append_timelapse(snapshot_record(epoch, snapshot(self.model, self.probe_images)))


def build_recorder(run, model: nn.Module, val_split: ImageSplit, num_classes: int, device: torch.device,
                   enabled: bool) -> TimelapseRecorder | None:
    """A recorder for a ViT run with validation pictures; None for a CNN, no run, no pictures, or when turned off.

    Writes the run's probes.npz (the pictures, their indices and labels) when the run has none yet.
    """
    if not enabled or run is None or not is_attention_model(model) or len(val_split) == 0:
        return None
    indices = choose_probe_indices(val_split.labels, num_classes)
    pictures = load_probe_pictures(run)  # a resumed run keeps the pictures it started with
    if pictures is None or pictures.indices.tolist() != indices:
        picked = torch.tensor(indices, dtype=torch.long)  # (P,)
        pictures = ProbePictures(
            images=val_split.images[picked].cpu().numpy().astype(np.uint8),  # (P, 3, S, S)
            indices=np.asarray(indices, dtype=np.int64),
            labels=val_split.labels[picked].cpu().numpy().astype(np.int64),
        )
        save_probe_pictures(run, pictures)
    return TimelapseRecorder(run, model, pictures, device)
