"""A classroom server under load: one queue, fair turns, owner/instructor rights, deleted and broken runs.

Every test drives the real dashboard with AppTest (several AppTest instances =
several browser sessions with different owner ids) on top of the real
JobScheduler, RunStore and tiny real training runs on a tiny synthetic set.
"""

import base64
import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.services.paths import REPO_ROOT
from test_app_units import jpeg_bytes, png_bytes

HOME = str(REPO_ROOT / "app" / "Home.py")
TOKEN = "teacher-secret-42"  # the instructor token of these tests' server
TINY_OVERRIDES = '{"epochs": 1, "batch_size": 8, "max_train_batches_per_epoch": 2, "eval_batch_size": 64, "num_threads": 1}'
LONG_EPOCHS = 500  # a CNN run that keeps training until the test stops it


@pytest.fixture
def server_env(app_env, tmp_path, monkeypatch):
    """`app_env` plus tiny recipes, a limit of one run at a time and an instructor token."""
    monkeypatch.setenv("VIT_CLASSROOM_TRAIN_OVERRIDES", TINY_OVERRIDES)
    monkeypatch.setenv("VIT_CLASSROOM_MAX_JOBS", "1")
    monkeypatch.setenv("VIT_CLASSROOM_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("VIT_CLASSROOM_SETTINGS", str(tmp_path / "no-settings.toml"))
    from app.state import get_run_store, get_scheduler

    scheduler = get_scheduler()
    yield {"scheduler": scheduler, "store": get_run_store(), "tmp": tmp_path}
    for run_id in scheduler.active_runs():  # never leave a training thread behind
        try:
            scheduler.stop(run_id, None, TOKEN)
        except Exception:
            pass
    assert scheduler.wait_until_idle(timeout=60)


def new_session() -> AppTest:
    return AppTest.from_file(HOME, default_timeout=120)


def assert_clean(at: AppTest):
    assert not at.exception, [item.value for item in at.exception]


def texts(elements) -> list[str]:
    return [item.value for item in elements]


def wait_until(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def start_long_cnn(at: AppTest) -> str:
    """Press Start on the Train page with a CNN recipe long enough to still train during the test."""
    at.radio(key="train_kind").set_value("cnn").run()
    at.number_input(key="train_epochs_cnn_hw4").set_value(LONG_EPOCHS).run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    return at.session_state["train_watch"]


def buttons_with_key(at: AppTest, key: str) -> list:
    return [button for button in at.button if button.key == key]


def trace_values(values) -> list:
    """A plotly trace array as a list (plain list, or plotly's base64 typed array)."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).tolist()
    return list(values)


def trace_length(values) -> int:
    """Length of a plotly trace array (plain list, or plotly's base64 typed array)."""
    return len(trace_values(values))


def make_vit_run(store, name: str, class_names: list[str], dataset_id: str = "synthetic-test", model_config=None) -> str:
    """A finished ViT run folder with real (untrained) weights, written the way fit writes it (default: vit/classroom)."""
    from vitcore.models.config import config_to_dict
    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset

    if model_config is None:
        model_config = get_preset("vit", "classroom", num_classes=len(class_names), image_size=64).model_config
    model = build_model(model_config)
    config_dict = config_to_dict(model_config)
    run = store.create_run(name, config_dict, {"epochs": 1}, class_names, dataset_id, "test", owner="someone-else")
    run.save_checkpoint({"model": model.state_dict(), "model_config": config_dict, "class_names": class_names})
    run.append_metrics({"type": "epoch", "epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "seconds": 1.0})
    run.set_status("finished", "done")
    return run.id


# ------------------------------------------------------------------ queue
def test_queued_runs_show_their_place_in_the_queue_and_can_be_cancelled(server_env):
    scheduler, store = server_env["scheduler"], server_env["store"]
    assert scheduler.slots == 1  # VIT_CLASSROOM_MAX_JOBS=1
    at = new_session().run()
    at.switch_page("views/train.py").run()
    first = start_long_cnn(at)
    at.button(key="train_start").click().run()
    second = at.session_state["train_watch"]
    at.button(key="train_start").click().run()
    third = at.session_state["train_watch"]
    assert_clean(at)
    assert len({first, second, third}) == 3
    assert scheduler.active_runs() == [first, second, third]
    assert (scheduler.queue_position(second), scheduler.queue_position(third)) == (1, 2)

    # The watched (third) run says where it stands, in words and in the progress bar.
    assert any("2nd in the queue" in text for text in texts(at.info)), texts(at.info)
    assert any("queued · 2nd in the queue" in item.proto.text for item in at.get("progress"))
    table = at.dataframe[0].value.set_index("run")
    assert table.loc[second, "queue"] == "1st in the queue" and table.loc[third, "queue"] == "2nd in the queue"
    assert table.loc[first, "started by"] == "you"

    # Cancel the third: it leaves the queue (kept as "stopped"), the second keeps its place.
    at.button(key=f"train_cancel_{third}").click().run()
    assert_clean(at)
    assert scheduler.queue_position(third) is None and scheduler.queue_position(second) == 1
    assert store.get(third).status()["status"] == "stopped"
    assert "cancelled" in store.get(third).status()["message"]
    assert third in list(at.dataframe[0].value["run"])  # still listed for everyone

    # Stopping the first lets the second start by itself (first come, first served).
    scheduler.stop(first, at.session_state["me"])
    wait_until(lambda: scheduler.queue_position(second) is None)
    assert first not in scheduler.active_runs()


def test_home_one_click_queues_the_cnn_behind_the_vit(server_env):
    scheduler = server_env["scheduler"]
    at = new_session().run()
    at.button(key="home_train_both").click().run()
    assert_clean(at)
    vit_id, cnn_id = at.session_state["home_queue"]
    assert scheduler.active_runs()[:2] == [vit_id, cnn_id] or scheduler.queue_position(cnn_id) is None
    if scheduler.queue_position(cnn_id) == 1:  # the ViT (1 step of a tiny recipe) may already be done
        progress = [item.proto.text for item in at.get("progress")]
        assert any(cnn_id in text and "1st in the queue" in text for text in progress), progress
    assert scheduler.wait_until_idle(timeout=60)


# ------------------------------------------------------------------ permissions
def test_another_session_cannot_stop_or_delete_but_the_instructor_can(server_env):
    from vitcore.train.scheduler import SchedulerPermissionError

    scheduler, store = server_env["scheduler"], server_env["store"]
    owner_session = new_session().run()
    owner_session.switch_page("views/train.py").run()
    run_id = start_long_cnn(owner_session)
    assert buttons_with_key(owner_session, f"train_stop_{run_id}") or buttons_with_key(owner_session, f"train_cancel_{run_id}")
    assert not owner_session.button(key="train_delete").disabled

    student = new_session().run()
    student.switch_page("views/train.py").run()
    student.selectbox(key="train_watch_select").set_value(run_id).run()
    assert_clean(student)
    assert student.session_state["me"] != owner_session.session_state["me"]
    assert not buttons_with_key(student, f"train_stop_{run_id}")
    assert any("only that session (or the instructor)" in text for text in texts(student.caption))
    assert student.button(key="train_delete").disabled
    assert student.dataframe[0].value.set_index("run").loc[run_id, "started by"] == "another session"
    for action in (scheduler.stop, scheduler.delete):
        with pytest.raises(SchedulerPermissionError, match="only the session that started this run"):
            action(run_id, student.session_state["me"])
    assert run_id in scheduler.active_runs()

    # A wrong token changes nothing; the instructor's token unlocks stop and delete.
    student.text_input(key="instructor_token").set_value("guess").run()
    assert any("not this server's instructor token" in text for text in texts(student.sidebar.caption))
    assert student.button(key="train_delete").disabled
    student.text_input(key="instructor_token").set_value(TOKEN).run()
    assert_clean(student)
    assert any("Instructor mode" in text for text in texts(student.sidebar.caption))
    assert buttons_with_key(student, f"train_stop_{run_id}")
    student.button(key="train_delete").click().run()
    assert any("cannot be undone" in text for text in texts(student.warning))
    assert store.get(run_id)  # nothing happens before the confirmation
    student.button(key="train_delete_yes").click().run()
    assert_clean(student)
    assert run_id not in [summary.id for summary in store.list_runs()]
    assert run_id not in scheduler.active_runs()

    # The owner's page, still watching the run, says it is gone and falls back to the empty state.
    owner_session.run()
    assert_clean(owner_session)
    assert any("that run was deleted" in text for text in texts(owner_session.warning)), texts(owner_session.warning)
    assert any("No runs yet" in text for text in texts(owner_session.info))


def test_the_owner_can_delete_a_finished_run_after_confirming(server_env):
    store = server_env["store"]
    at = new_session().run()
    at.switch_page("views/train.py").run()
    at.button(key="train_start").click().run()  # the tiny ViT recipe (1 epoch, 2 steps)
    run_id = at.session_state["train_watch"]
    assert server_env["scheduler"].wait_until_idle(timeout=60)
    at.run()
    at.button(key="train_delete").click().run()
    at.button(key="train_delete_no").click().run()  # "Keep it"
    assert store.get(run_id) and not any("cannot be undone" in text for text in texts(at.warning))
    at.button(key="train_delete").click().run()
    at.button(key="train_delete_yes").click().run()
    assert_clean(at)
    assert not store.list_runs()
    assert not any("that run was deleted" in text for text in texts(at.warning))  # no scary warning for your own delete


# ------------------------------------------------------------------ deleted and broken runs on other pages
def good_doomed_and_broken_runs(store) -> tuple[str, str, str]:
    """Three finished ViT runs: one to keep, one to delete while a page shows it, one whose checkpoint is garbage."""
    classes = ["a", "b", "c", "d", "e"]
    good, doomed, broken = (make_vit_run(store, f"vit-{name}", classes) for name in ("good", "doomed", "broken"))
    store.get(broken).checkpoint_path.write_bytes(b"this is not a checkpoint at all")
    return good, doomed, broken


def delete_then_pick_the_broken_run(viewer, scheduler, runs: tuple[str, str, str], picker_key: str) -> None:
    """The instructor deletes `doomed` while `viewer` shows it: one warning, another run shown; `broken`: one error."""
    good, doomed, broken = runs
    scheduler.delete(doomed, None, admin_token=TOKEN)  # from another session, while the page is open
    viewer.run()
    assert_clean(viewer)
    assert any("that run was deleted" in text for text in texts(viewer.warning)), texts(viewer.warning)
    assert viewer.selectbox(key=picker_key).value in (good, broken)
    viewer.selectbox(key=picker_key).set_value(broken).run()
    assert_clean(viewer)
    assert len(viewer.error) == 1 and broken in viewer.error[0].value and "Traceback" not in viewer.error[0].value


def test_attention_page_survives_a_deleted_run_and_a_corrupt_checkpoint(server_env):
    scheduler, store = server_env["scheduler"], server_env["store"]
    good, doomed, broken = good_doomed_and_broken_runs(store)

    viewer = new_session().run()
    viewer.switch_page("views/attention.py").run()
    viewer.selectbox(key="attention_run").set_value(doomed).run()
    viewer.radio(key="attention_source").set_value("upload your own").run()
    viewer.file_uploader(key="attention_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(viewer)
    assert any(text.startswith("Prediction: ") for text in texts(viewer.subheader))

    delete_then_pick_the_broken_run(viewer, scheduler, (good, doomed, broken), "attention_run")
    viewer.selectbox(key="attention_run").set_value(good).run()  # the rest of the page still works
    viewer.radio(key="attention_source").set_value("upload your own").run()
    viewer.file_uploader(key="attention_upload").set_value(("really-a-png.jpg", png_bytes(), "image/jpeg")).run()
    assert_clean(viewer)
    assert not viewer.error
    assert any(text.startswith("Prediction: ") for text in texts(viewer.subheader))
    for name, payload in (("notes.png", b"plain text, not a picture\n" * 10), ("drawing.jpg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")):
        viewer.file_uploader(key="attention_upload").set_value((name, payload, "image/jpeg")).run()
        assert_clean(viewer)
        assert len(viewer.error) == 1 and name in viewer.error[0].value


def test_inside_the_vit_survives_a_deleted_run_a_corrupt_checkpoint_and_runs_without_one(server_env):
    scheduler, store = server_env["scheduler"], server_env["store"]
    classes = ["a", "b", "c", "d", "e"]
    viewer = new_session().run()
    viewer.switch_page("views/inside_vit.py").run()
    assert_clean(viewer)
    assert any("No ViT run with a checkpoint yet" in text for text in texts(viewer.info))  # nothing to walk through yet
    queued = store.create_run("vit-queued", {"kind": "vit"}, {"epochs": 1}, classes, "synthetic-test", "test")  # no checkpoint
    good, doomed, broken = good_doomed_and_broken_runs(store)
    viewer.run()
    assert queued.id not in viewer.selectbox(key="inside_run").options  # a run without a checkpoint is not offered
    viewer.selectbox(key="inside_run").set_value(doomed).run()
    viewer.radio(key="inside_source").set_value("upload your own").run()
    viewer.file_uploader(key="inside_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(viewer)
    assert viewer.header and not viewer.error

    delete_then_pick_the_broken_run(viewer, scheduler, (good, doomed, broken), "inside_run")
    viewer.selectbox(key="inside_run").set_value(good).run()
    assert_clean(viewer)
    assert not viewer.error and viewer.header


def test_inside_the_vit_shows_what_the_homework_bugs_do_to_the_attention(server_env):
    """The homework's encoder walks through too; step 4 names each bug and shows that the columns, not the rows, sum alike."""
    from vitcore.models.config import HomeworkBugs, ViTConfig

    small_homework = ViTConfig(image_size=64, patch_size=16, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                               homework_bugs=HomeworkBugs())  # every default bug on, at a size a test can load
    run_id = make_vit_run(server_env["store"], "vit-homework", ["a", "b", "c", "d", "e"], model_config=small_homework)
    viewer = new_session().run()
    viewer.query_params["step"] = "4"
    viewer.switch_page("views/inside_vit.py").run()
    viewer.radio(key="inside_source").set_value("upload your own").run()
    viewer.file_uploader(key="inside_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(viewer)
    assert viewer.selectbox(key="inside_run").value == run_id and not viewer.error
    assert any("homework's encoder with its bugs" in text for text in texts(viewer.warning))
    assert any(text.startswith("**Softmax over the queries.**") for text in texts(viewer.markdown))
    assert any(text.startswith("**1/√d after the softmax.**") for text in texts(viewer.markdown))
    sums = viewer.dataframe[0].value
    columns, rows = sums["column sum (what the key gives)"], sums["row sum (what the query reads)"]
    assert len(rows) == 17 and np.allclose(columns, 1 / np.sqrt(8), atol=2e-4)  # every column: one unit, times 1/√d
    assert rows.max() - rows.min() > 0.01  # the rows are not alike
    assert not any(text.startswith("Every row of the weights sums to 1") for text in texts(viewer.caption))


def test_a_cnn_run_on_another_dataset_is_refused_beside_the_vit_in_one_sentence(server_env):
    store = server_env["store"]
    classes = ["a", "b", "c", "d", "e"]
    make_vit_run(store, "vit-here", classes)
    cnn_id = make_cnn_run(store, "cnn-elsewhere", classes, "folder-elsewhere")
    viewer = new_session().run()
    viewer.switch_page("views/attention.py").run()
    viewer.radio(key="attention_source").set_value("upload your own").run()
    viewer.file_uploader(key="attention_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    viewer.toggle(key="attention_compare_cnn").set_value(True).run()
    assert_clean(viewer)
    assert viewer.selectbox(key="attention_cnn_run").value == cnn_id
    assert any("trained on another dataset" in text for text in texts(viewer.warning))
    assert not viewer.error and any(text.startswith("Prediction: ") for text in texts(viewer.subheader))


def make_cnn_run(store, name: str, class_names: list[str], dataset_id: str) -> str:
    """A finished hw4 CNN run folder with real (untrained) weights."""
    from vitcore.models.config import CNNConfig, config_to_dict
    from vitcore.models.factory import build_model

    cnn_config = CNNConfig(arch="hw4", num_classes=len(class_names), image_size=64)
    run = store.create_run(name, config_to_dict(cnn_config), {"epochs": 1}, class_names, dataset_id, "test")
    run.save_checkpoint({"model": build_model(cnn_config).state_dict(), "model_config": config_to_dict(cnn_config),
                         "class_names": class_names})
    run.append_metrics({"type": "epoch", "epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "seconds": 1.0})
    run.set_status("finished", "done")
    return run.id


def test_the_data_efficiency_sweep_queues_eight_runs_within_the_session_limit_and_draws_them(server_env):
    """One button plans 8 runs; the session's limit (3 queued or training) holds; the rest follow as runs finish."""
    import json

    from app import state

    scheduler, store = server_env["scheduler"], server_env["store"]
    data = state.active_dataset()
    make_vit_run(store, "vit-seen", list(data.class_names), dataset_id=data.dataset_id)
    make_cnn_run(store, "cnn-seen", list(data.class_names), data.dataset_id)
    viewer = new_session().run()
    viewer.switch_page("views/compare.py").run()
    assert_clean(viewer)
    assert not viewer.button(key="compare_sweep").disabled
    viewer.button(key="compare_sweep").click().run()
    assert_clean(viewer)
    plan_files = list((store.root / ".sweeps").glob("*.json"))
    assert len(plan_files) == 1
    plan = json.loads(plan_files[0].read_text())
    assert len(plan["submitted"]) == 3 and len(plan["pending"]) == 5  # the session's limit, not all eight at once
    assert viewer.button(key="compare_sweep").disabled
    assert any("5 to go" in text for text in texts(viewer.info))
    assert [store.get(run_id).config()["train_config"]["train_fraction"] for run_id in plan["submitted"]] == [0.1, 0.1, 0.25]
    deadline = time.monotonic() + 240
    while plan["pending"] and time.monotonic() < deadline:  # the page's fragment submits more as runs finish
        scheduler.wait_until_idle(timeout=60)
        viewer.run()
        plan = json.loads(plan_files[0].read_text())
    assert not plan["pending"] and len(plan["submitted"]) == 8
    assert scheduler.wait_until_idle(timeout=120)
    viewer.run()
    assert_clean(viewer)
    names = sorted(store.get(run_id).config()["name"] for run_id in plan["submitted"])
    assert names == sorted(f"{kind}-{percent}pct" for kind in ("vit-classroom", "cnn-hw4") for percent in (10, 25, 50, 100))
    (chart,) = [chart for chart in viewer.get("plotly_chart") if "compare_data_efficiency" in chart.proto.id]
    lines = {trace["name"]: trace for trace in json.loads(chart.proto.spec)["data"]}
    assert set(lines) == {"ViT (classroom)", "CNN (hw4)"}
    from vitcore.data.subset import training_subset

    sizes = [len(training_subset(data.train, share, 0)) for share in (0.1, 0.25, 0.5, 1.0)]
    assert sizes[-1] == len(data.train) and sizes[0] < sizes[-1]
    for trace in lines.values():  # one point per training-set size (on this tiny set 10 % and 25 % are the same pictures)
        assert trace_values(trace["x"]) == sorted(set(sizes)) and sum(trace_values(trace["customdata"])) == 4
    assert not viewer.button(key="compare_sweep").disabled  # nothing left to submit: another sweep may start


def test_without_validation_pictures_the_attention_page_asks_for_an_upload(server_env, monkeypatch):
    """Upload mode normally shows a validation picture's answer until a picture arrives; with none, it asks for one."""
    from types import SimpleNamespace

    from app import state

    classes = ["a", "b", "c", "d", "e"]
    make_vit_run(server_env["store"], "vit-no-val", classes)
    monkeypatch.setattr(state, "active_dataset", lambda: SimpleNamespace(class_names=classes, val=[]))
    viewer = new_session().run()
    viewer.switch_page("views/attention.py").run()
    assert_clean(viewer)
    assert "The active dataset has no validation images." in texts(viewer.info)
    viewer.radio(key="attention_source").set_value("upload your own").run()
    assert_clean(viewer)
    assert any(text.startswith("Choose a picture to classify") for text in texts(viewer.info)), texts(viewer.info)
    assert not viewer.get("image")
    viewer.file_uploader(key="attention_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(viewer)
    from app.services.run_tools import DRAWINGS_ONLY_NOTE

    assert not viewer.error and texts(viewer.info) == [DRAWINGS_ONLY_NOTE]  # no ask; the run learned from drawings only
    viewer.toggle(key="attention_show_replay").set_value(True).run()  # unfold the epoch replay
    assert_clean(viewer)
    assert any("no attention time-lapse to replay" in text for text in texts(viewer.caption))  # written without one
    assert any(text.startswith("Prediction: ") for text in texts(viewer.subheader))


def test_an_upload_to_a_model_of_photos_gets_no_drawings_note(server_env):
    from app.services.run_tools import DRAWINGS_ONLY_NOTE

    make_vit_run(server_env["store"], "vit-photos", ["airplane", "bus", "cat", "dog", "pizza"], dataset_id="folder-3fa2c1d0")
    viewer = new_session().run()
    viewer.switch_page("views/attention.py").run()
    viewer.radio(key="attention_source").set_value("upload your own").run()
    viewer.file_uploader(key="attention_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(viewer)
    assert any(text.startswith("Prediction: ") for text in texts(viewer.subheader))
    assert DRAWINGS_ONLY_NOTE not in texts(viewer.info)


def test_a_new_tab_follows_the_training_run_until_it_picks_one(server_env):
    """A second tab with nothing chosen watches the run that trains, not the newest (queued) one; a pick sticks."""
    scheduler = server_env["scheduler"]
    teacher = new_session().run()
    teacher.switch_page("views/train.py").run()
    training = start_long_cnn(teacher)
    teacher.button(key="train_start").click().run()
    queued = teacher.session_state["train_watch"]
    assert scheduler.training_runs() == [training] and scheduler.queue_position(queued) == 1
    student = new_session().run()
    student.switch_page("views/train.py").run()
    assert_clean(student)
    assert student.selectbox(key="train_watch_select").value == training  # not the newest run, which waits
    assert any("Following the run that trains now" in text for text in texts(student.caption))
    student.selectbox(key="train_watch_select").set_value(queued).run()
    student.run()
    assert_clean(student)
    assert student.selectbox(key="train_watch_select").value == queued  # the student's own choice stays
    assert not any("Following the run" in text for text in texts(student.caption))


def test_train_page_shows_an_error_for_a_corrupt_run_only(server_env):
    store = server_env["store"]
    healthy = make_vit_run(store, "vit-healthy", ["a", "b", "c", "d", "e"])
    corrupt = make_vit_run(store, "vit-corrupt", ["a", "b", "c", "d", "e"])
    (store.get(corrupt).path / "config.json").write_text("{ not json")
    at = new_session().run()
    at.switch_page("views/train.py").run()
    at.selectbox(key="train_watch_select").set_value(corrupt).run()
    assert_clean(at)
    assert len(at.error) == 1 and corrupt in at.error[0].value
    table = at.dataframe[0].value.set_index("run")
    assert "corrupt" in table.loc[corrupt, "message"] and healthy in table.index
    at.selectbox(key="train_watch_select").set_value(healthy).run()
    assert_clean(at)
    assert not at.error


# ------------------------------------------------------------------ the curve survives a restart
def test_iteration_curve_comes_from_disk_after_a_restart(server_env, monkeypatch):
    store = server_env["store"]
    at = new_session().run()
    at.switch_page("views/train.py").run()
    at.radio(key="train_kind").set_value("cnn").run()
    at.number_input(key="train_epochs_cnn_hw4").set_value(2).run()
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_watch"]
    assert server_env["scheduler"].wait_until_idle(timeout=60)
    steps_on_disk = len(store.get(run_id).read_iterations())
    assert steps_on_disk == 4  # 2 epochs x 2 steps

    # "Restart": a new scheduler that never ran the run (another limit = another process-wide object) and a new session.
    monkeypatch.setenv("VIT_CLASSROOM_MAX_JOBS", "2")
    from app.state import get_scheduler

    assert get_scheduler() is not server_env["scheduler"] and get_scheduler().snapshot(run_id) is None
    fresh = new_session().run()
    fresh.switch_page("views/train.py").run()
    fresh.selectbox(key="train_watch_select").set_value(run_id).run()
    assert_clean(fresh)
    charts = [chart for chart in fresh.get("plotly_chart") if chart.proto.id and f"train_iter_{run_id}" in chart.proto.id]
    if not charts:  # element ids are hashed in some Streamlit versions: find the subplot figure by its titles
        charts = [chart for chart in fresh.get("plotly_chart") if "training loss" in chart.proto.spec]
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert [trace_length(trace["x"]) for trace in spec["data"]] == [steps_on_disk, steps_on_disk]
    assert not any("Per-iteration loss is shown while" in text for text in texts(fresh.caption))


def test_a_refreshed_tab_keeps_ownership_through_the_address(server_env):
    """A refresh is a new Streamlit session; the owner id in the URL (?me=...) carries the right to stop over."""
    scheduler = server_env["scheduler"]
    first_visit = new_session().run()
    first_visit.switch_page("views/train.py").run()
    run_id = start_long_cnn(first_visit)
    owner = first_visit.session_state["me"]
    assert first_visit.query_params["me"] == [owner] or first_visit.query_params["me"] == owner

    refreshed = new_session()
    refreshed.query_params["me"] = owner  # what the browser sends again after F5
    refreshed.run()
    refreshed.switch_page("views/train.py").run()
    refreshed.selectbox(key="train_watch_select").set_value(run_id).run()
    assert_clean(refreshed)
    assert refreshed.session_state["me"] == owner
    assert buttons_with_key(refreshed, f"train_stop_{run_id}") or buttons_with_key(refreshed, f"train_cancel_{run_id}")
    assert refreshed.dataframe[0].value.set_index("run").loc[run_id, "started by"] == "you"

    forged = new_session()
    forged.query_params["me"] = "../../not-an-id"  # anything but 32 hex digits gets a fresh id
    forged.run()
    forged.switch_page("views/train.py").run()
    assert forged.session_state["me"] != owner and len(forged.session_state["me"]) == 32
    scheduler.stop(run_id, owner)


# ------------------------------------------------------------------ a class watching one run
def test_watchers_of_one_run_share_one_build_of_its_curves_per_second(server_env, monkeypatch):
    """30 tabs refreshing the live view must not each read the files and build the figures again."""
    from app import live_curves
    from app.components import charts
    from vitcore.errors import RunError

    store = server_env["store"]
    run_id = make_vit_run(store, "vit-watched", ["a", "b", "c", "d", "e"])
    store.get(run_id).append_iterations([
        {"type": "iteration", "global_step": step, "epoch": 1, "step": step + 1, "steps_per_epoch": 6, "loss": 1.0, "running_acc": 0.5}
        for step in range(6)
    ])
    builds = []
    real_iteration_curves = charts.iteration_curves
    monkeypatch.setattr(charts, "iteration_curves", lambda *args, **kw: builds.append(1) or real_iteration_curves(*args, **kw))

    first = live_curves.shared_live_curves(run_id, "idle", None)
    for _ in range(29):  # the rest of the class, within the same second
        assert live_curves.shared_live_curves(run_id, "idle", None) is first
    assert len(builds) == 1
    assert len(first.iterations) == 6 and len(first.epochs) == 1 and first.planned_epochs == 1
    assert first.status["status"] == "finished" and first.iteration_figure is not None and first.epoch_figure is not None

    assert live_curves.shared_live_curves(run_id, "training", None) is not first  # a state change is seen at once
    assert len(builds) == 2
    time.sleep(live_curves.SHARE_S + 0.2)  # a second later: new points are read
    store.get(run_id).append_iterations([
        {"type": "iteration", "global_step": 6, "epoch": 2, "step": 1, "steps_per_epoch": 6, "loss": 0.9, "running_acc": 0.6}
    ])
    later = live_curves.shared_live_curves(run_id, "idle", None)
    assert later is not first and len(later.iterations) == 7 and len(builds) == 3

    (store.get(run_id).path / "config.json").write_text("{ broken")  # errors are not kept: the next call tries again
    time.sleep(live_curves.SHARE_S + 0.2)
    with pytest.raises(RunError, match="config"):
        live_curves.shared_live_curves(run_id, "idle", None)
    with pytest.raises(RunError, match="config"):
        live_curves.shared_live_curves(run_id, "idle", None)


def test_live_views_keep_their_curves_while_students_pictures_are_answered(server_env):
    """During an upload burst the watchers get the very objects they drew last; a quiet moment or a state change ends it."""
    from types import SimpleNamespace

    from app import live_curves
    from vitcore.train.foreground import ForegroundActivity

    store = server_env["store"]
    run_id = make_vit_run(store, "vit-held", ["a", "b", "c", "d", "e"])

    def add_steps(first: int, count: int) -> None:
        store.get(run_id).append_iterations([
            {"type": "iteration", "global_step": step, "epoch": 1, "step": step + 1, "steps_per_epoch": 50, "loss": 1.0,
             "running_acc": 0.5}
            for step in range(first, first + count)
        ])

    add_steps(0, 4)
    now = [100.0]
    foreground = ForegroundActivity(clock=lambda: now[0])  # a fake clock: the test says when pictures were answered
    held = live_curves.HeldCurves(capacity=2, clock=lambda: now[0])
    training = SimpleNamespace(state="training", snapshot=None)
    first = live_curves.live_curves_for(run_id, training, foreground, held)
    assert len(first.iterations) == 4

    add_steps(4, 3)  # the trainer took steps...
    time.sleep(live_curves.SHARE_S + 0.2)  # ...and the shared build has expired
    with foreground.running():  # a student's picture is being answered right now
        assert live_curves.live_curves_for(run_id, training, foreground, held) is first
    now[0] += live_curves.HOLD_QUIET_S / 2  # answered a moment ago: the browsers are still drawing the answers
    assert live_curves.live_curves_for(run_id, training, foreground, held) is first
    idle = SimpleNamespace(state="idle", snapshot=None)
    assert len(live_curves.live_curves_for(run_id, idle, foreground, held).iterations) == 7  # the run ended: shown at once
    now[0] += live_curves.HOLD_QUIET_S  # quiet again
    fresh = live_curves.live_curves_for(run_id, training, foreground, held)
    assert fresh is not first and len(fresh.iterations) == 7

    other_runs = [make_vit_run(store, f"vit-held-{index}", ["a", "b", "c", "d", "e"]) for index in range(2)]
    for other in other_runs:  # the held curves are bounded: the least recently drawn run is dropped
        live_curves.live_curves_for(other, idle, foreground, held)
    assert held.get(run_id, "training") is None and held.get(other_runs[-1], "idle") is not None

    add_steps(7, 2)  # a lab that never stops uploading: held curves are handed out for HOLD_MAX_S at most
    with foreground.running():
        time.sleep(live_curves.SHARE_S + 0.2)
        kept = live_curves.live_curves_for(run_id, training, foreground, held)
        assert live_curves.live_curves_for(run_id, training, foreground, held) is kept
        now[0] += live_curves.HOLD_MAX_S + 0.1
        time.sleep(live_curves.SHARE_S + 0.2)  # (and the one-second shared build has expired too)
        moved = live_curves.live_curves_for(run_id, training, foreground, held)
    assert moved is not kept and len(moved.iterations) == 9


def test_a_long_runs_iteration_curve_is_averaged_to_a_bounded_number_of_points(server_env):
    """Every point is sent to every watching tab every 1.5 s: a 500-epoch run must not send 30,000 of them."""
    from app import live_curves

    steps = np.arange(1_000)
    curve = pd.DataFrame({"progress": steps / 10, "loss": 2.0 - steps / 1_000, "running_acc": steps / 1_000})
    thinned, steps_per_point = live_curves.thin_curve(curve, max_points=300)
    assert steps_per_point == 4 and len(thinned) == 250  # ceil(1000 / 300) steps per point
    np.testing.assert_allclose(thinned["loss"].to_numpy(), curve["loss"].to_numpy().reshape(250, 4).mean(axis=1))
    assert thinned["progress"].is_monotonic_increasing
    short, one = live_curves.thin_curve(curve.head(300), max_points=300)
    assert one == 1 and short.equals(curve.head(300))  # short runs keep every step

    store = server_env["store"]
    run_id = make_vit_run(store, "vit-long", ["a", "b", "c", "d", "e"])
    steps_per_epoch = 59
    total_steps = 20 * steps_per_epoch
    store.get(run_id).append_iterations([
        {"type": "iteration", "global_step": step, "epoch": step // steps_per_epoch + 1, "step": step % steps_per_epoch + 1,
         "steps_per_epoch": steps_per_epoch, "loss": 1.0 + (step % 7) / 10, "running_acc": 0.5}
        for step in range(total_steps)
    ])
    curves = live_curves.build_live_curves(store.get(run_id), None)
    assert curves.steps_per_point == -(-total_steps // live_curves.MAX_CURVE_POINTS)
    assert len(curves.iterations) <= live_curves.MAX_CURVE_POINTS
    drawn = [len(trace.x) for trace in curves.iteration_figure.data]
    assert drawn and max(drawn) <= live_curves.MAX_CURVE_POINTS, drawn
    assert curves.iterations["progress"].iloc[-1] == pytest.approx(20.0, abs=curves.steps_per_point / steps_per_epoch)
