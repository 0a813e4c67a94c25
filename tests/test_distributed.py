"""Distributed (DDP) training: real `torchrun` with 2 CPU processes (gloo) against a single-process run.

- The sharding puts exactly global batch k on the ranks at step k (pure function, no processes).
- A real `python -m torch.distributed.run --nproc_per_node=2 -m vitcore train ...` on a tiny
  synthetic folder ends with identical weights on both ranks (rank fingerprints, and the
  checkpoint rank 0 wrote), and its per-epoch metrics and final weights equal a one-process
  run with the same global batch (no augmentation, no dropout, a ViT: no BatchNorm).
- Two spawned ranks where only rank 0 asks to stop, or only rank 1 sees a NaN loss, both
  end in the same state instead of waiting for each other forever.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from vitcore.cli import main
from vitcore.data.dataset import ClassificationData, ImageSplit
from vitcore.models.config import model_config_from_dict
from vitcore.models.factory import build_model
from vitcore.train.config import TrainConfig
from vitcore.train.distributed import (
    DistributedContext,
    DistributedSetupError,
    per_rank_batch_size,
    rank_epoch_order,
    shard_split,
    state_dict_fingerprint,
)
from vitcore.train.engine import fit

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_ARGS = [  # tiny ViT run: 40 images of 32x32, global batch 8, 2 epochs, nothing random but the shuffle
    "train", "--model", "vit", "--preset", "classroom", "--tokenizer", "patch", "--epochs", "2", "--batch-size", "8",
    "--augmentation", "none", "--dropout", "0", "--device", "cpu", "--seed", "5",
]  # patch tokens: no BatchNorm, whose per-rank batch statistics would make DDP differ from one process


def cpu_context(rank: int, world_size: int) -> DistributedContext:
    return DistributedContext(rank=rank, world_size=world_size, local_rank=rank, device=torch.device("cpu"), backend="gloo")


def test_each_step_of_all_ranks_is_exactly_the_global_batch():
    epoch_order = torch.randperm(48, generator=torch.Generator().manual_seed(1))  # (N,)
    global_batch, world_size = 12, 3
    local_batch = per_rank_batch_size(global_batch, world_size)
    shares = [rank_epoch_order(epoch_order, cpu_context(rank, world_size)) for rank in range(world_size)]
    assert all(len(share) == 16 for share in shares)
    for step in range(48 // global_batch):
        union = torch.cat([share[step * local_batch : (step + 1) * local_batch] for share in shares])
        expected = epoch_order[step * global_batch : (step + 1) * global_batch]
        assert sorted(union.tolist()) == sorted(expected.tolist())
    # Different ranks never see the same image in one epoch (N divisible by the world size).
    assert len(set(torch.cat(shares).tolist())) == 48


def test_val_shards_cover_the_split_once():
    split = ImageSplit(torch.zeros(7, 3, 4, 4, dtype=torch.uint8), torch.arange(7), [f"c/{i}" for i in range(7)])
    shards = [shard_split(split, cpu_context(rank, 3)) for rank in range(3)]
    assert sum((shard.names for shard in shards), []) == split.names
    assert torch.equal(torch.cat([shard.labels for shard in shards]), split.labels)


def test_global_batch_must_split_evenly_with_a_clear_error():
    with pytest.raises(DistributedSetupError, match="divisible by the number of processes"):
        per_rank_batch_size(10, 4)
    data = _colour_data()
    result = fit(nn.Linear(1, 1), data, TrainConfig(batch_size=10, device="cpu"), distributed=cpu_context(0, 4))
    assert result.status == "failed" and "divisible" in result.message


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    assert main(["data", "synth", "--out", str(out), "--train-per-class", "8", "--val-per-class", "4",
                 "--size", "32", "--seed", "3"]) == 0
    return out


def _read_run(runs_dir: Path) -> tuple[list[dict], dict]:
    (run_dir,) = [path for path in runs_dir.iterdir() if path.is_dir()]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    checkpoint = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    return metrics, checkpoint


def test_torchrun_two_processes_match_one_process(tmp_path, synth_folder, monkeypatch, capsys):
    cache_dir = tmp_path / "cache"
    env = dict(os.environ, VIT_CLASSROOM_CACHE=str(cache_dir), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_free_port()),
               "-m", "vitcore", *TRAIN_ARGS, "--data", str(synth_folder), "--runs-dir", str(tmp_path / "ddp")]
    completed = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    json_lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(json_lines) == 1, completed.stdout  # only rank 0 prints
    summary = json.loads(json_lines[0])
    assert summary["status"] == "finished" and summary["world_size"] == 2

    # (a) both ranks end with bit-identical weights, and they are the weights rank 0 saved.
    fingerprints = summary["replica_fingerprints"]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1] and summary["replicas_in_sync"]
    ddp_metrics, ddp_checkpoint = _read_run(tmp_path / "ddp")
    assert state_dict_fingerprint(ddp_checkpoint["model"]) == fingerprints[0]
    assert len(list((tmp_path / "ddp").iterdir())) == 1  # one run folder, written by rank 0 only

    # (b) one process, same global batch: the same metrics and (nearly) the same weights.
    monkeypatch.setenv("VIT_CLASSROOM_CACHE", str(cache_dir))
    capsys.readouterr()
    assert main([*TRAIN_ARGS, "--data", str(synth_folder), "--runs-dir", str(tmp_path / "single")]) == 0
    single_metrics, single_checkpoint = _read_run(tmp_path / "single")
    assert len(ddp_metrics) == len(single_metrics) == 2
    for ddp_epoch, single_epoch in zip(ddp_metrics, single_metrics):
        for key in ("train_loss", "val_loss"):
            assert ddp_epoch[key] == pytest.approx(single_epoch[key], abs=1e-4), key
        for key in ("train_acc", "val_acc"):
            assert ddp_epoch[key] == pytest.approx(single_epoch[key], abs=1e-6), key
    assert single_metrics[1]["train_loss"] < single_metrics[0]["train_loss"]  # it really trained
    for name, tensor in single_checkpoint["model"].items():
        assert torch.allclose(ddp_checkpoint["model"][name], tensor, atol=1e-4), name
    initial = build_model(model_config_from_dict(single_checkpoint["model_config"])).state_dict()
    assert state_dict_fingerprint(initial) != fingerprints[0]


# ----------------------------------------------------------------------------- stop / NaN without deadlock


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _colour_data() -> ClassificationData:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat_interleave(16)  # (N,)
    images = (labels[:, None, None, None] * 200 + torch.randint(0, 50, (32, 3, 8, 8), generator=generator))
    split = ImageSplit(images.to(torch.uint8), labels, [f"c{int(label)}/{i}" for i, label in enumerate(labels)])
    return ClassificationData(train=split, val=split, class_names=["dark", "light"], dataset_id="colour", source="test")


class ColourNet(nn.Module):
    """Mean colour -> linear; from `nan_from_call` on, this rank's logits are NaN."""

    def __init__(self, nan_from_call: int | None = None):
        super().__init__()
        self.head = nn.Linear(3, 2)
        self.nan_from_call = nan_from_call
        self.calls = 0

    def forward(self, images, return_attention=False):
        self.calls += 1
        logits = self.head(images.mean(dim=(2, 3)))  # (B, 2)
        return logits * float("nan") if self.nan_from_call and self.calls >= self.nan_from_call else logits


def _stop_and_nan_worker(rank: int, port: int, out_dir: str) -> None:
    """One spawned rank: a run only rank 0 asks to stop, then a run where only rank 1 blows up."""
    from vitcore.train.distributed import init_distributed, shutdown_distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    context = init_distributed("cpu")
    config = TrainConfig(epochs=3, batch_size=8, lr=0.1, schedule="constant", device="cpu", seed=0)
    polls = []

    def rank0_stops_at_third_step() -> bool:
        polls.append(1)
        return rank == 0 and len(polls) >= 3

    torch.manual_seed(0)
    stopped = fit(ColourNet(), _colour_data(), config, should_stop=rank0_stops_at_third_step, distributed=context)
    torch.manual_seed(0)
    failed = fit(ColourNet(nan_from_call=2 if rank == 1 else None), _colour_data(), config, distributed=context)
    shutdown_distributed(context)
    results = {"stopped": [stopped.status, stopped.message], "failed": [failed.status, failed.message]}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


def _run_two_ranks(worker, out_dir: Path, hang_message: str) -> list[dict]:
    """Spawn `worker(rank, port, out_dir)` on 2 processes; each writes rank<r>.json, returned in rank order."""
    import torch.multiprocessing as multiprocessing

    processes = multiprocessing.start_processes(
        worker, args=(_free_port(), str(out_dir)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 120
    while not processes.join(timeout=2):
        if time.monotonic() > deadline:
            for process in processes.processes:
                process.kill()
            pytest.fail(hang_message)
    return [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in range(2)]


def test_stop_on_one_rank_and_nan_on_another_end_both_ranks(tmp_path):
    results = _run_two_ranks(
        _stop_and_nan_worker, tmp_path, "the ranks did not finish: a deadlock between stop/NaN handling and the collectives"
    )
    for result in results:
        assert result["stopped"][0] == "stopped"
        assert "epoch 1 step 3" in result["stopped"][1]
        assert result["failed"][0] == "failed"
        assert "NaN" in result["failed"][1] and "epoch 1 step 2" in result["failed"][1]


class BatchNormNet(nn.Module):
    """Conv + BatchNorm + linear head: its running statistics are buffers that DDP does not average."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=1)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, images, return_attention=False):
        return self.head(self.norm(self.conv(images)).mean(dim=(2, 3)))  # (B, 2)


def _batch_norm_worker(rank: int, port: int, out_dir: str) -> None:
    from vitcore.train.distributed import init_distributed, shutdown_distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    context = init_distributed("cpu")
    torch.manual_seed(0)
    config = TrainConfig(epochs=2, batch_size=8, lr=0.1, schedule="constant", device="cpu", seed=0)
    result = fit(BatchNormNet(), _colour_data(), config, distributed=context)
    shutdown_distributed(context)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"status": result.status, "prints": result.replica_fingerprints}))


def test_batch_norm_statistics_are_the_same_on_every_rank(tmp_path):
    """Each rank updates BatchNorm's running statistics from its own half batch; rank 0's are broadcast."""
    results = _run_two_ranks(_batch_norm_worker, tmp_path, "the ranks did not finish")
    assert [result["status"] for result in results] == ["finished", "finished"]
    fingerprints = results[0]["prints"]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]  # parameters AND buffers identical
