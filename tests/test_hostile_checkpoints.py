"""Planted pickle payloads must never run, whichever door they come through.

tests/test_runs.py already checks one payload (`open(marker, "w")` inside a
torch.save zip) against `Run.load_checkpoint`. Here every payload kind a
student could plant (torch zip, legacy raw pickle, hand-written protocol-0
opcodes, a payload hidden deep inside an otherwise valid state dict, a zip
whose data.pkl was swapped) is fed to EVERY entry point that reads a
checkpoint-like file: load_checkpoint, Run.load_checkpoint,
load_model_from_run, a resumed TrainingJob, the CLI (eval/predict/resume),
the tensor-cache loader, and the image uploader. Each must refuse with a
clear error and the marker file must not exist afterwards.

Each payload is first proven live: a plain `pickle.loads` does create its
marker, so a passing test means the loaders blocked it, not that the payload
was harmless.
"""

import io
import os
import pickle
import zipfile

import pytest
import torch

from test_engine import TinyNet, make_colour_data, quick_config
from vitcore.cli import main as cli_main
from vitcore.data import cache
from vitcore.data.images import decode_image
from vitcore.errors import ImageInputError, RunError
from vitcore.runs.checkpoint import load_checkpoint, load_model_from_run
from vitcore.runs.store import RunStore
from vitcore.train.job import TrainingJob


class ShellPayload:
    """Unpickling runs a shell command that creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class ExecPayload:
    """Unpickling runs Python code (builtins.exec) that creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def torch_zip_with_shell(marker) -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": {"w": torch.ones(2)}, "epochs_completed": 1, "payload": ShellPayload(marker)}, buffer)
    return buffer.getvalue()


def legacy_raw_pickle(marker) -> bytes:
    return pickle.dumps({"model": {}, "payload": ExecPayload(marker)}, protocol=2)


def protocol_zero_opcodes(marker) -> bytes:
    return f"cposix\nsystem\n(Vtouch '{marker}'\ntR.".encode()  # GLOBAL posix.system, call with one string


def nested_in_valid_state(marker) -> bytes:
    model = TinyNet()
    state = {"model": model.state_dict(), "epochs_completed": 1, "history": [{"epoch": 1, "extra": [ShellPayload(marker)]}]}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def zip_with_swapped_data_pkl(marker) -> bytes:
    """A genuine torch zip whose data.pkl record was replaced by a malicious pickle."""
    buffer = io.BytesIO()
    torch.save({"model": {"w": torch.ones(2)}}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                content = pickle.dumps(ShellPayload(marker), protocol=2)
            target.writestr(item, content)
    return out.getvalue()


PAYLOADS = {
    "torch_zip_os_system": torch_zip_with_shell,
    "legacy_pickle_exec": legacy_raw_pickle,
    "protocol0_opcodes": protocol_zero_opcodes,
    "nested_in_valid_state_dict": nested_in_valid_state,
    "zip_with_swapped_data_pkl": zip_with_swapped_data_pkl,
}


def unpickle_unsafely(blob: bytes):
    """What a naive loader would do (only used to prove a payload is live)."""
    if blob[:2] == b"PK":  # a torch zip archive
        return torch.load(io.BytesIO(blob), weights_only=False)
    return pickle.loads(blob)


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_payload_is_live_when_unpickled_naively(tmp_path, kind):
    marker = tmp_path / "proof.txt"
    try:
        unpickle_unsafely(PAYLOADS[kind](marker))
    except Exception:
        pass  # e.g. the tensor storages are missing: the payload already ran by then
    assert marker.exists(), f"the {kind} payload would not run; the test below would prove nothing"


def make_run_with_planted_checkpoint(tmp_path, blob):
    store = RunStore(tmp_path / "runs")
    data = make_colour_data()
    run = store.create_run("victim", {"kind": "tiny", "num_classes": 3}, quick_config(epochs=2).to_dict(),
                           data.class_names, data.dataset_id, data.source, owner="s")
    run.checkpoint_path.write_bytes(blob)
    run.set_status("stopped", "stopped by request")
    return store, run, data


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_every_checkpoint_loader_refuses_the_payload(tmp_path, kind, capsys):
    marker = tmp_path / "pwned.txt"
    blob = PAYLOADS[kind](marker)
    store, run, data = make_run_with_planted_checkpoint(tmp_path, blob)

    with pytest.raises(RunError, match="corrupt or not a safe weights-only file"):
        load_checkpoint(run.checkpoint_path)
    with pytest.raises(RunError):
        run.load_checkpoint()
    with pytest.raises(RunError):
        load_model_from_run(run, "cpu")

    uploaded = tmp_path / "uploaded-checkpoint.pt"  # an upload lands in a file, then is loaded from there
    uploaded.write_bytes(blob)
    with pytest.raises(RunError):
        load_checkpoint(uploaded)

    job = TrainingJob.resume(store, run.id, data, model_builder=lambda config: TinyNet(config["num_classes"]))
    job.start()
    assert job.join(timeout=60)
    snapshot = job.snapshot()
    assert snapshot.status == "failed" and "RunError" in snapshot.message and "weights-only" in snapshot.message

    capsys.readouterr()  # drop the job thread's printed traceback
    photo = tmp_path / "photo.png"
    photo.write_bytes(blob)
    for argv in (["eval", run.id, "--data", "/no/such/dir"], ["predict", run.id, str(photo)], ["resume", run.id]):
        code = cli_main([*argv, "--runs-dir", str(store.root)])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "deadbeef.pt").write_bytes(blob)
    assert cache.load_payload(cache_dir, "deadbeef") is None  # treated as a cache miss, never unpickled
    with pytest.raises(ImageInputError):
        decode_image(blob)  # the same bytes uploaded as a "photo"

    summaries = store.list_runs()  # the run list still works and still shows the run
    assert [s.id for s in summaries] == [run.id] and summaries[0].has_checkpoint
    assert not marker.exists()
