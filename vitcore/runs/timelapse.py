"""A ViT run's attention time-lapse on disk: one line per epoch in `timelapse.jsonl`, the probe pictures in `probes.npz`.

Each line is one `ProbeSnapshot` (vitcore.explain.probe) taken after epoch `epoch` (0 = the untrained model),
appended and fsynced like `metrics.jsonl`: a SIGKILL leaves a file whose complete lines still parse, and a
resumed run appends to it. When a crash falls between a line and the checkpoint, the resumed run repeats that
epoch and writes its line again; readers keep the last line of each epoch.

Small on purpose: every attention map sums to 1, so it is stored as 8-bit levels of its own maximum (base64)
and renormalised when read (relative error under 1/255 of the map's peak); the logit lens as probabilities
rounded to 4 decimals. A 55-epoch `vit/best` run (6 layers x 6 heads, 10 pictures) writes about 0.6 MB.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitcore.atomic_write import write_atomically
from vitcore.explain.probe import ProbeSnapshot
PROBES_FILE = "probes.npz"  # the probe pictures (uint8), their validation indices and labels
LENS_DECIMALS = 4  # the logit lens' probabilities are stored rounded to this many decimals


@dataclass
class TimelapseFrame:
    """One decoded line: what the model saw in the probe pictures after `epoch` epochs."""

    epoch: int  # epochs trained when it was taken (0 = the untrained model)
    snapshot: ProbeSnapshot  # the maps and the logit lens


@dataclass
class ProbePictures:
    """The probe pictures of a run, as it recorded them."""

    images: np.ndarray  # (P, 3, S, S) uint8
    indices: np.ndarray  # (P,) their indices in the validation split
    labels: np.ndarray  # (P,) their true classes


def encode_maps(maps: np.ndarray) -> str:
    """(..., g, g) non-negative maps -> base64 of uint8 levels of each map's own maximum."""
    peaks = maps.max(axis=(-2, -1), keepdims=True)  # (..., 1, 1)
    levels = np.rint(maps / np.where(peaks > 0, peaks, 1.0) * 255).astype(np.uint8)  # (..., g, g)
    return base64.b64encode(levels.tobytes()).decode("ascii")


def decode_maps(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `encode_maps`, each (g, g) map renormalised to sum to 1; float32 of `shape`."""
    levels = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape).astype(np.float32)  # (..., g, g)
    totals = levels.sum(axis=(-2, -1), keepdims=True)  # (..., 1, 1)
    return levels / np.where(totals > 0, totals, 1.0)


def snapshot_record(epoch: int, snapshot: ProbeSnapshot) -> dict:
    """The JSON line for one snapshot."""
    pictures, layers, heads, grid = snapshot.summary_attention.shape[:4]
    return {
        "epoch": int(epoch),
        "time": time.time(),
        "shape": [int(pictures), int(layers), int(heads), int(grid)],  # P, L, H, g
        "summary_attention": encode_maps(snapshot.summary_attention),  # (P, L, H, g, g)
        "rollout": encode_maps(snapshot.rollout),  # (P, g, g)
        "lens": np.round(snapshot.lens.astype(np.float64), LENS_DECIMALS).tolist(),  # (P, L, C)
    }


def frame_from_record(record: dict) -> TimelapseFrame:
    """Decode one JSON line (raises KeyError/ValueError/TypeError on a malformed one)."""
    pictures, layers, heads, grid = (int(value) for value in record["shape"])
    lens = np.asarray(record["lens"], dtype=np.float32)  # (P, L, C)
    if lens.ndim != 3 or lens.shape[:2] != (pictures, layers):
        raise ValueError("the logit lens does not match the recorded shape")
    return TimelapseFrame(
        epoch=int(record["epoch"]),
        snapshot=ProbeSnapshot(
            summary_attention=decode_maps(record["summary_attention"], (pictures, layers, heads, grid, grid)),
            rollout=decode_maps(record["rollout"], (pictures, grid, grid)),
            lens=lens,
        ),
    )


def read_frames(run) -> list[TimelapseFrame]:
    """Every readable frame of a run, one per epoch (the last line of an epoch wins), in epoch order."""
    by_epoch: dict[int, TimelapseFrame] = {}
    for record in run.read_timelapse_records():
        try:
            frame = frame_from_record(record)
        except (KeyError, ValueError, TypeError):
            continue  # a line from another version, or damaged: the other epochs still show
        by_epoch[frame.epoch] = frame
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def save_probe_pictures(run, pictures: ProbePictures) -> None:
    """Write probes.npz atomically (vitcore.atomic_write: a temporary file, fsynced, renamed over it)."""
    write_atomically(Path(run.path) / PROBES_FILE, lambda stream: np.savez_compressed(
        stream, images=pictures.images, indices=pictures.indices, labels=pictures.labels))


def load_probe_pictures(run) -> ProbePictures | None:
    """The run's probe pictures, or None when it has none (a CNN, an older run) or the file is unreadable."""
    path = Path(run.path) / PROBES_FILE
    try:
        with np.load(path, allow_pickle=False) as stored:
            return ProbePictures(images=stored["images"], indices=stored["indices"], labels=stored["labels"])
    except (OSError, KeyError, ValueError):
        return None
