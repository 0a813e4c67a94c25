"""IterationTail: the per-step curve of a growing iterations.jsonl, parsing only what was appended."""

import json
import os

import pandas as pd
import pytest

from vitcore.runs.iteration_tail import CURVE_COLUMNS, IterationTail, curve_point
from vitcore.runs.store import RunStore


def records(first: int, count: int, steps_per_epoch: int = 10, loss: float = 1.0) -> list[dict]:
    return [
        {"type": "iteration", "global_step": step, "epoch": step // steps_per_epoch + 1, "step": step % steps_per_epoch + 1,
         "steps_per_epoch": steps_per_epoch, "loss": loss + step / 100, "running_acc": step / 100}
        for step in range(first, first + count)
    ]


def test_the_tail_matches_a_full_read_while_the_file_grows(tmp_path):
    run = RunStore(tmp_path).create_run("vit", {"kind": "vit"}, {"epochs": 3}, list("ab"), "data", "test")
    tail = IterationTail(run.iterations_path)
    assert tail.frame().empty  # no file yet
    for first in (0, 7, 15, 22):
        run.append_iterations(records(first, first // 2 + 3))
        full_read = pd.DataFrame([curve_point(record) for record in run.read_iterations()], columns=CURVE_COLUMNS)
        pd.testing.assert_frame_equal(tail.frame(), full_read, check_dtype=False)
    assert tail.bytes_read == run.iterations_path.stat().st_size


def test_only_the_appended_bytes_are_parsed(tmp_path, monkeypatch):
    path = tmp_path / "iterations.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records(0, 50)))
    tail = IterationTail(path)
    assert len(tail.frame()) == 50
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text: parsed.append(text) or real_loads(text))
    with open(path, "a") as handle:
        handle.write("".join(json.dumps(record) + "\n" for record in records(50, 3)))
    assert len(tail.frame()) == 53
    assert len(parsed) == 3  # the 50 old lines were not read again
    assert tail.frame() is tail.frame()  # nothing new: the same frame, no parsing
    assert len(parsed) == 3


def test_a_line_being_written_waits_for_its_newline(tmp_path):
    path = tmp_path / "iterations.jsonl"
    first, second = (json.dumps(record) for record in records(0, 2))
    path.write_text(first + "\n" + second[:10])
    tail = IterationTail(path)
    assert len(tail.frame()) == 1 and tail.bytes_read == len(first) + 1
    with open(path, "a") as handle:
        handle.write(second[10:] + "\n")
    assert list(tail.frame()["running_acc"]) == [0.0, 0.01]


def test_a_resumed_run_rewrites_steps_and_the_later_record_wins(tmp_path):
    path = tmp_path / "iterations.jsonl"
    with open(path, "a") as handle:
        handle.write("".join(json.dumps(record) + "\n" for record in records(0, 20)))
        handle.write("not json\n")  # a torn line from a crash is skipped
    tail = IterationTail(path)
    assert len(tail.frame()) == 20
    with open(path, "a") as handle:  # killed at step 20, resumed from the checkpoint at step 15
        handle.write("".join(json.dumps(record) + "\n" for record in records(15, 10, loss=5.0)))
    frame = tail.frame()
    assert len(frame) == 25 and list(frame["progress"]) == sorted(frame["progress"])
    assert frame["loss"].iloc[14] == pytest.approx(1.14) and frame["loss"].iloc[15] == pytest.approx(5.15)  # steps 15.. rerun


def test_a_replaced_or_shortened_file_is_read_from_the_start(tmp_path):
    path = tmp_path / "iterations.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records(0, 30)))
    tail = IterationTail(path)
    assert len(tail.frame()) == 30
    replacement = tmp_path / "new.jsonl"
    replacement.write_text("".join(json.dumps(record) + "\n" for record in records(0, 4)))
    os.replace(replacement, path)
    assert len(tail.frame()) == 4
    path.unlink()
    assert tail.frame().empty
