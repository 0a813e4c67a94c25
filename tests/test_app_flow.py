"""End-to-end dashboard flows with AppTest and real (tiny) training runs in background threads."""

import io
import time

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.services.paths import REPO_ROOT
from test_app_units import BAD_UPLOADS, jpeg_bytes, png16_bytes

HOME = str(REPO_ROOT / "app" / "Home.py")
TINY_OVERRIDES = '{"epochs": 1, "batch_size": 8, "max_train_batches_per_epoch": 2, "eval_batch_size": 64}'


def new_app() -> AppTest:
    return AppTest.from_file(HOME, default_timeout=120)


def assert_clean(at: AppTest):
    assert not at.exception, [item.value for item in at.exception]


def wait_until(condition, at: AppTest | None = None, timeout: float = 120.0, rerun_every: float = 1.5):
    """Poll until condition() is true, re-running the app every `rerun_every` s like the live fragment does."""
    deadline = time.monotonic() + timeout
    last_rerun = time.monotonic()
    while time.monotonic() < deadline:
        if at is not None and time.monotonic() - last_rerun >= rerun_every:
            at.run()
            assert_clean(at)
            last_rerun = time.monotonic()
        if condition():
            if at is not None:
                at.run()
                assert_clean(at)
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the background job")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Press Home's one-click button once: a tiny ViT then a tiny CNN on a tiny synthetic set."""
    root = tmp_path_factory.mktemp("app_flow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIT_CLASSROOM_RUNS", str(root / "runs"))
        patch.setenv("VIT_CLASSROOM_CACHE", str(root / "cache"))
        patch.setenv("VIT_CLASSROOM_SYNTH_PER_CLASS", "4")
        patch.setenv("VIT_CLASSROOM_DATA_ROOTS", str(root))
        patch.setenv("VIT_CLASSROOM_TRAIN_OVERRIDES", TINY_OVERRIDES)
        from app.state import get_run_store, get_scheduler

        at = new_app().run()
        assert_clean(at)
        at.button(key="home_train_both").click().run()
        assert_clean(at)
        run_ids = at.session_state["home_queue"]
        scheduler = get_scheduler()
        assert scheduler.slots == 1  # one run at a time: the CNN waits behind the ViT (checked by the timing test below)
        wait_until(lambda: not set(run_ids) & set(scheduler.active_runs()), at)
        store = get_run_store()
        yield {"at": at, "run_ids": run_ids, "store": store, "scheduler": scheduler}
        scheduler.wait_until_idle(timeout=60)


def test_home_one_click_trains_the_vit_then_the_cnn(trained):
    store, (vit_id, cnn_id) = trained["store"], trained["run_ids"]
    assert store.get(vit_id).config()["model_config"]["kind"] == "vit"
    assert store.get(cnn_id).config()["model_config"]["kind"] == "cnn"
    for run_id in (vit_id, cnn_id):
        assert store.get(run_id).status()["status"] == "finished"
        assert store.get(run_id).has_checkpoint
    vit_end = store.get(vit_id).read_metrics()[-1]["time"]
    cnn_epoch = store.get(cnn_id).read_metrics()[0]
    assert cnn_epoch["time"] - cnn_epoch["seconds"] >= vit_end - 0.5  # queued: the CNN trained after the ViT
    at = trained["at"]
    assert any("Done" in item.value for item in at.success)


def test_attention_page_explains_a_validation_image(trained):
    at = trained["at"]
    at.switch_page("views/attention.py").run()
    assert_clean(at)
    assert not at.error
    assert at.selectbox(key="attention_run").value == trained["run_ids"][0]
    subheaders = [item.value for item in at.subheader]
    assert any(text.startswith("Prediction: ") for text in subheaders)
    assert "attention on the object" in [metric.label for metric in at.metric]  # synthetic masks -> localization score
    chance = {metric.label: metric.value for metric in at.metric}["chance (object's area)"]
    assert 0 < int(chance.rstrip("%")) < 100
    tables = [item.value for item in at.markdown if item.value.startswith("| class | probability |")]
    assert len(tables) == 1  # the softmax output, one markdown table
    rows = [line for line in tables[0].splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == 5  # one row per class of the synthetic set
    shares = [float(row.split("|")[2].strip().rstrip("%")) for row in rows]
    assert shares == sorted(shares, reverse=True)  # most likely first
    assert abs(sum(shares) - 100.0) < 0.5
    predicted = next(text for text in subheaders if text.startswith("Prediction: ")).removeprefix("Prediction: ")
    assert rows[0].split("|")[1].strip() == predicted
    assert len(picture_charts(at)) == 0  # the layers x heads section starts folded
    at.slider(key="attention_val_index").set_value(3).run()
    at.slider(key="attention_opacity").set_value(0.8).run()
    at.toggle(key="attention_show_all").set_value(True).run()
    at.selectbox(key="attention_layer").set_value(1).run()
    at.radio(key="attention_heat").set_value("last layer (mean of heads)").run()
    assert_clean(at)
    assert len(picture_charts(at)) == 3  # layer x head grid, token matrix, rollout


def picture_charts(at: AppTest) -> list:
    """The plotly charts about the chosen picture (not the epoch replay's, which are always below them)."""
    return [chart for chart in at.get("plotly_chart") if "_replay_" not in chart.proto.id]


def image_captions(at: AppTest) -> list[str]:
    """Captions of every st.image on the page."""
    return [caption for element in at.get("image") for caption in element.captions]


def test_before_an_upload_the_answer_for_the_last_validation_picture_stays(trained):
    """Upload mode keeps a whole answer on the page, so an upload swaps pictures instead of building the columns."""
    at = trained["at"]
    at.switch_page("views/attention.py").run()
    at.radio(key="attention_source").set_value("validation image").run()
    at.slider(key="attention_val_index").set_value(2).run()
    validation_prediction = next(item.value for item in at.subheader if item.value.startswith("Prediction: "))
    at.radio(key="attention_source").set_value("upload your own").run()
    assert_clean(at)
    assert not at.info and not at.error
    assert any(caption.startswith("validation image #2 (true class: ") and "until you upload your own" in caption
               for caption in image_captions(at)), image_captions(at)
    assert validation_prediction in [item.value for item in at.subheader]  # the same answer, still on the page
    assert len(at.get("image")) == 2  # the picture and its overlay; the epoch replay below starts folded
    at.file_uploader(key="attention_upload").set_value(("mine.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert any(caption.startswith("your upload") for caption in image_captions(at)), image_captions(at)
    assert not any("until you upload" in caption for caption in image_captions(at))


def test_attention_page_handles_good_and_bad_uploads(trained):
    at = trained["at"]
    at.switch_page("views/attention.py").run()
    at.radio(key="attention_source").set_value("upload your own").run()
    assert_clean(at)
    good = {"photo.jpg": jpeg_bytes(), "cmyk.jpg": jpeg_bytes("CMYK"), "deep.png": png16_bytes()}
    for name, payload in good.items():
        at.file_uploader(key="attention_upload").set_value((name, payload, "image/jpeg")).run()
        assert_clean(at)
        assert not at.error, (name, [item.value for item in at.error])
        assert any(item.value.startswith("Prediction: ") for item in at.subheader)
    for case, payload in BAD_UPLOADS.items():
        at.file_uploader(key="attention_upload").set_value(("bad.jpg", payload, "image/jpeg")).run()
        assert_clean(at)
        assert len(at.error) == 1, case
        assert at.error[0].value and "Traceback" not in at.error[0].value
        assert at.radio(key="attention_source").value == "upload your own"  # page stays usable


def test_an_upload_to_a_model_of_drawings_says_so_once(trained):
    """A run trained on the embedded set has never seen a photo: an upload's answer says so and points to the Data page."""
    from app.services.run_tools import DRAWINGS_ONLY_NOTE

    at = trained["at"]
    at.switch_page("views/attention.py").run()
    at.radio(key="attention_source").set_value("validation image").run()
    assert_clean(at)
    assert DRAWINGS_ONLY_NOTE not in [item.value for item in at.info]  # a drawing from its own validation set: no note
    at.radio(key="attention_source").set_value("upload your own").run()
    at.file_uploader(key="attention_upload").set_value(("dog-photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert [item.value for item in at.info].count(DRAWINGS_ONLY_NOTE) == 1
    assert DRAWINGS_ONLY_NOTE.count(". ") == 0 and "Data page" in DRAWINGS_ONLY_NOTE  # one sentence, with where to go
    assert ("data", "Train on real photos: Data page") in [(link.proto.page, link.proto.label) for link in at.get("page_link")]


def test_attention_pictures_can_be_filtered_by_class_and_by_mistakes(trained):
    """The validation picker lists only one class's pictures, or only those the model gets wrong (checked independently)."""
    import torch

    from vitcore.data.sources import load_dataset
    from vitcore.evaluate import evaluate
    from vitcore.runs.checkpoint import load_model_from_run

    at = trained["at"]
    at.switch_page("views/attention.py").run()
    at.radio(key="attention_source").set_value("validation image").run()
    assert_clean(at)
    data = load_dataset(None, synthetic_train_per_class=4, synthetic_val_per_class=2)  # what the server shows (SYNTH 4)
    model, _, class_names = load_model_from_run(trained["store"].get(trained["run_ids"][0]), torch.device("cpu"))
    predictions = evaluate(model, data.val, class_names, torch.device("cpu")).predictions
    labels = data.val.labels.numpy()

    def filtered_choice() -> list[int] | str:
        """The picture indices the filtered slider offers, or the message shown instead of a slider."""
        sliders = [slider for slider in at.select_slider if slider.key.startswith("attention_val_filtered_")]
        if sliders:
            return [int(option) for option in sliders[0].options]
        return ([item.value for item in at.caption if item.value.startswith("Only validation image")]
                + [item.value for item in at.info])[0]

    cat = class_names.index("cat")
    at.selectbox(key="attention_val_class").set_value("cat").run()
    assert_clean(at)
    cats = [index for index in range(len(labels)) if labels[index] == cat]
    assert filtered_choice() == cats
    assert any(caption.startswith("true class: cat") for caption in image_captions(at))
    at.toggle(key="attention_val_wrong").set_value(True).run()
    assert_clean(at)
    wrong_cats = [index for index in cats if predictions[index] != labels[index]]
    if len(wrong_cats) > 1:
        assert filtered_choice() == wrong_cats
    elif len(wrong_cats) == 1:
        assert filtered_choice() == f"Only validation image #{wrong_cats[0]} matches."
    else:
        assert filtered_choice() == "The model gets every cat validation picture right."
    at.selectbox(key="attention_val_class").set_value("all classes").run()
    assert_clean(at)
    wrong = [index for index in range(len(labels)) if predictions[index] != labels[index]]
    assert len(wrong) > 1  # a two-step model gets most of them wrong, so the slider is there
    assert filtered_choice() == wrong
    at.toggle(key="attention_val_wrong").set_value(False).run()
    assert_clean(at)
    assert at.slider(key="attention_val_index").max == len(labels) - 1  # no filter: the plain slider over every picture


def upload_on_the_attention_page(at, name: str, size: tuple[int, int]):
    """Open Attention, choose "upload your own" and upload a JPEG of `size`; the page must come out clean."""
    at.switch_page("views/attention.py").run()
    at.radio(key="attention_source").set_value("upload your own").run()
    at.file_uploader(key="attention_upload").set_value((name, jpeg_bytes(size=size), "image/jpeg")).run()
    assert_clean(at)
    return at


def test_a_training_run_would_pause_while_the_attention_page_answers(trained, monkeypatch):
    """The prediction runs inside the scheduler's foreground.running(), and the mark ends with the answer."""
    from app import state
    from app.services import run_tools

    seen = []  # (the server's ForegroundActivity, its quiet time) at each prediction
    real_predict = run_tools.predict

    def watched_predict(*args):
        activity = state.get_scheduler().foreground
        seen.append((activity, activity.seconds_quiet()))
        return real_predict(*args)

    monkeypatch.setattr(run_tools, "predict", watched_predict)
    upload_on_the_attention_page(trained["at"], "pause-for-me.jpg", size=(61, 43))
    assert len(seen) == 1
    activity, quiet_while_predicting = seen[0]
    assert quiet_while_predicting == 0.0  # a CPU trainer would be holding still right now
    assert 0.0 < activity.seconds_quiet() < 60.0  # the page is done: the mark has ended (and recently)


def test_attention_page_runs_the_model_once_per_picture(trained, monkeypatch):
    """Opacity, heat source, layer/head pickers and the toggle reuse the cached prediction; a new picture does not."""
    from app.services import run_tools

    calls = []
    real_predict = run_tools.predict
    monkeypatch.setattr(run_tools, "predict", lambda *args: calls.append(1) or real_predict(*args))
    at = upload_on_the_attention_page(trained["at"], "cache-me.jpg", size=(57, 41))
    assert len(calls) == 1
    at.toggle(key="attention_show_all").set_value(False).run()  # the shared session may have unfolded it before
    assert len(picture_charts(at)) == 0  # folded: only the overlay and the probability table
    at.toggle(key="attention_show_all").set_value(True).run()
    assert len(picture_charts(at)) == 3  # layers x heads grid, token matrix, rollout
    at.slider(key="attention_opacity").set_value(0.2).run()
    at.radio(key="attention_heat").set_value("last layer (mean of heads)").run()
    at.selectbox(key="attention_head").set_value(2).run()
    at.toggle(key="attention_show_all").set_value(False).run()
    assert_clean(at)
    assert len(picture_charts(at)) == 0  # the heavy section is hidden again
    at.toggle(key="attention_show_all").set_value(True).run()
    assert len(picture_charts(at)) == 3
    assert len(calls) == 1
    at.file_uploader(key="attention_upload").set_value(("other.jpg", jpeg_bytes(size=(58, 41)), "image/jpeg")).run()
    assert_clean(at)
    assert len(calls) == 2


def test_the_folded_layers_section_is_one_toggle_that_carries_its_explanation(trained):
    """Each upload redraws the answer in every student's tab; the folded section used to add a heading + text block.

    Measured with a single student's tab (Chromium renderer CPU per fresh upload): 0.37 s with that block, 0.34 s
    without. The explanation is kept, in the toggle's label and tooltip.
    """
    at = upload_on_the_attention_page(trained["at"], "folded.jpg", size=(52, 47))
    at.toggle(key="attention_show_all").set_value(False).run()
    assert_clean(at)
    toggle = at.toggle(key="attention_show_all")
    assert "CLS token" in toggle.label and "token × token matrix" in toggle.help
    assert not [block.value for block in at.markdown if "Every layer and head" in block.value]
    assert len(picture_charts(at)) == 0


def test_compare_page_scores_every_explanation_against_the_masks_with_both_controls(trained):
    at = trained["at"]
    at.switch_page("views/compare.py").run()
    assert_clean(at)
    assert not [frame for frame in at.dataframe if "pointing game" in frame.value.columns]  # only on request
    at.number_input(key="compare_score_pictures").set_value(10).run()
    at.button(key="compare_score").click().run()
    assert_clean(at)
    (table,) = [frame.value for frame in at.dataframe if "pointing game" in frame.value.columns]
    assert len(table) == 12  # 2 models x 2 methods x (trained, untrained, randomized)
    assert set(zip(table["model"], table["method"])) == {
        ("ViT", "attention rollout"), ("ViT", "attention relevance (Chefer et al.)"), ("CNN", "Grad-CAM"),
        ("CNN", "integrated gradients")}
    assert set(table["weights"]) == {"trained", "untrained", "last layers randomized"}
    assert (table["pictures"] == 10).all() and table["chance"].between(0.01, 0.99).all()
    assert table["pointing game"].between(0, 1).all() and table["energy inside"].between(0, 1).all()
    second = new_app().run()  # another student: the same table, without pressing anything
    second.switch_page("views/compare.py").run()
    second.number_input(key="compare_score_pictures").set_value(10).run()
    assert [frame.value for frame in second.dataframe if "pointing game" in frame.value.columns][0].equals(table)


def test_compare_page_shows_shared_scale_confusion_matrices(trained):
    at = trained["at"]
    at.switch_page("views/compare.py").run()
    assert_clean(at)
    assert not at.error
    table = at.dataframe[0].value
    assert table["class"].iloc[0] == "overall"
    assert list(table.columns[:3]) == ["class", "ViT", "CNN"]
    assert ((table["ViT"] >= 0) & (table["ViT"] <= 1)).all()
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # two matrices, the learning curves, accuracy against training-set size (the one-click runs)
    import json

    specs = [json.loads(chart.proto.spec) for chart in charts[:2]]
    scales = {(spec["data"][0]["zmin"], spec["data"][0]["zmax"]) for spec in specs}
    assert len(scales) == 1  # identical colour scale
    assert specs[0]["data"][0]["x"] == specs[1]["data"][0]["x"]  # identical class order
    at.toggle(key="compare_normalised").set_value(True).run()
    assert_clean(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")[:2]]
    assert all(spec["data"][0]["zmax"] == 1.0 for spec in specs)
    cells = at.selectbox(key="compare_cell_select")
    cells.set_value(("CNN", cells.value[1], cells.value[1])).run()  # a diagonal cell
    assert_clean(at)


def test_train_page_starts_stops_resumes_and_finishes_a_run(trained):
    at = trained["at"]
    store = trained["store"]
    at.switch_page("views/train.py").run()
    assert_clean(at)
    at.radio(key="train_kind").set_value("cnn").run()
    at.selectbox(key="train_preset_cnn").set_value("hw4").run()
    at.number_input(key="train_epochs_cnn_hw4").set_value(200).run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    run_id = at.session_state["train_watch"]
    assert run_id not in trained["run_ids"]
    scheduler = trained["scheduler"]
    assert store.get(run_id).config()["owner"] == at.session_state["me"]

    def alive():
        return run_id in scheduler.active_runs()

    other_session = new_app()
    other_session.switch_page("views/train.py").run()
    other_session.selectbox(key="train_watch_select").set_value(run_id).run()
    assert_clean(other_session)
    if alive():
        assert not [button for button in other_session.button if button.key == f"train_stop_{run_id}"]

    at.run()
    stop_buttons = [button for button in at.button if button.key == f"train_stop_{run_id}"]
    if stop_buttons:  # still running: stop it, then resume it
        stop_buttons[0].click().run()
        wait_until(lambda: not alive(), at)
        assert store.get(run_id).status()["status"] == "stopped"
        at.run()
        assert not at.button(key="train_resume").disabled
        at.button(key="train_resume").click().run()
        assert_clean(at)
        if alive():
            scheduler.stop(run_id, at.session_state["me"])
        wait_until(lambda: not alive(), at)
    status = store.get(run_id).status()["status"]
    assert status in ("stopped", "finished")
    table = at.dataframe[0].value
    assert run_id in list(table["run"])
    downloads = {button.key for button in at.get("download_button")}
    assert {"train_download_ckpt", "train_download_csv"} <= downloads


def test_train_page_tiny_run_finishes_with_live_charts(trained):
    at = trained["at"]
    store = trained["store"]
    at.switch_page("views/train.py").run()
    at.radio(key="train_kind").set_value("cnn").run()
    at.number_input(key="train_epochs_cnn_hw4").set_value(2).run()
    at.number_input(key="train_maxb_cnn_hw4").set_value(2).run()
    at.number_input(key="train_pace_cnn_hw4").set_value(0.2).run()  # demo pace: 4 steps take at least 0.8 s
    at.number_input(key="train_cutmix_cnn_hw4").set_value(1.0).run()
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_watch"]
    wait_until(lambda: store.get(run_id).status()["status"] == "finished", at)
    at.run()
    assert_clean(at)
    assert store.get(run_id).config()["train_config"]["min_seconds_per_step"] == pytest.approx(0.2)
    assert store.get(run_id).config()["train_config"]["cutmix_alpha"] == pytest.approx(1.0)
    assert store.get(run_id).config()["train_config"]["mixup_alpha"] == 0.0
    assert sum(record["seconds"] for record in store.get(run_id).read_metrics()) >= 0.75  # 4 paced steps: >= 0.8 s
    assert len(store.get(run_id).read_metrics()) == 2
    progress_texts = [item.proto.text for item in at.get("progress")]
    assert any(run_id in text and "finished" in text for text in progress_texts)
    assert len(at.get("plotly_chart")) >= 2  # live iteration curves + per-epoch accuracy
    assert at.query_params["run"] in (run_id, [run_id])


def test_the_attention_page_explains_one_picture_for_the_vit_and_the_cnn_side_by_side(trained):
    at = trained["at"]
    vit_id, cnn_id = trained["run_ids"]
    at.switch_page("views/attention.py").run()
    at.radio(key="attention_source").set_value("validation image").run()
    at.slider(key="attention_val_index").set_value(1).run()
    assert not any(caption.startswith("CNN · ") for caption in image_captions(at))  # folded until asked
    at.toggle(key="attention_compare_cnn").set_value(True).run()
    assert_clean(at)
    assert not at.error and any(label.endswith(cnn_id[-4:]) for label in at.selectbox(key="attention_cnn_run").options)
    at.selectbox(key="attention_cnn_run").set_value(cnn_id).run()
    pair = [caption for caption in image_captions(at) if caption.startswith(("ViT · ", "CNN · "))]
    assert [caption.split(" · ")[:2] for caption in pair] == [["ViT", "attention rollout"], ["CNN", "Grad-CAM"]]
    on_object = [item.value for item in at.caption if "of this map lies on the object" in item.value]
    assert len(on_object) == 2  # the synthetic pictures have masks: each map's share on the object
    at.radio(key="attention_vit_method").set_value("relevance").run()
    at.radio(key="attention_cnn_method").set_value("integrated_gradients").run()
    at.slider(key="attention_pair_opacity").set_value(0.9).run()
    assert_clean(at)
    pair = [caption for caption in image_captions(at) if caption.startswith(("ViT · ", "CNN · "))]
    assert [caption.split(" · ")[1] for caption in pair] == ["attention relevance (Chefer et al.)", "integrated gradients"]
    assert not at.error
    at.toggle(key="attention_compare_cnn").set_value(False).run()


def chart_spec(at: AppTest, key_part: str) -> str:
    """The plotly JSON of the one chart whose element id contains `key_part` (a widget key)."""
    (chart,) = [chart for chart in at.get("plotly_chart") if key_part in chart.proto.id]
    return chart.proto.spec


def test_the_epoch_slider_replays_the_run_from_untrained_to_the_last_epoch(trained):
    """Attention and Inside the ViT replay the recorded time-lapse: the slider moves the maps and the logit lens."""
    at = trained["at"]
    for page, key in (("views/attention.py", "attention_replay"), ("views/inside_vit.py", "inside_replay")):
        at.switch_page(page).run()
        assert_clean(at)
        if page == "views/attention.py":  # there the replay starts folded behind a toggle
            assert not [item for item in at.select_slider if item.key == f"{key}_epoch"]
            at.toggle(key="attention_show_replay").set_value(True).run()
            assert_clean(at)
        slider = at.select_slider(key=f"{key}_epoch")
        assert list(slider.options) == ["untrained", "epoch 1"] and slider.value == 1  # the last epoch first
        last_lens, last_heads = chart_spec(at, f"{key}_lens"), chart_spec(at, f"{key}_heads")
        assert any(text.startswith("Epoch 1 of 1:") for text in (item.value for item in at.caption))
        slider.set_value(0).run()
        assert_clean(at)
        assert any(text.startswith("Untrained of 1:") for text in (item.value for item in at.caption))
        assert chart_spec(at, f"{key}_lens") != last_lens and chart_spec(at, f"{key}_heads") != last_heads
        assert any(caption.startswith("Rollout, untrained: ") for caption in image_captions(at))
        at.selectbox(key=f"{key}_picture").set_value(9).run()  # the tenth probe picture: the second of the last class
        assert_clean(at)
        assert at.select_slider(key=f"{key}_epoch").value == 0  # the slider stays where the student left it


def test_the_train_page_shows_the_probe_pictures_of_a_vit_run(trained):
    at = trained["at"]
    vit_id, cnn_id = trained["run_ids"]
    at.switch_page("views/train.py").run()
    at.selectbox(key="train_watch_select").set_value(vit_id).run()
    assert_clean(at)
    strip = [item.value for item in at.markdown if item.value.startswith("**What the model looks at")]
    assert strip and strip[0].startswith("**What the model looks at: 10 probe pictures, epoch 1**")
    marks = [caption for caption in image_captions(at) if caption[:1] in "✓✗"]
    assert len(marks) == 10 and all(caption.endswith("%") for caption in marks)
    at.selectbox(key="train_watch_select").set_value(cnn_id).run()  # a CNN has no time-lapse
    assert not [item.value for item in at.markdown if item.value.startswith("**What the model looks at")]


INSIDE_STEPS = [
    "1 · The picture and its patches", "2 · Tokens", "3 · Position embeddings", "4 · Attention, layer by layer",
    "5 · The residual stream", "6 · Logit lens", "7 · The prediction",
]  # the walkthrough's steps, as its step picker names them


def test_inside_the_vit_walks_every_step_with_next_and_back(trained):
    """Every step renders its text, formula, code and predict-first question; Next/Back move; the address follows."""
    at = trained["at"]
    at.switch_page("views/inside_vit.py").run()
    assert_clean(at)
    assert not at.error
    assert at.selectbox(key="inside_run").value == trained["run_ids"][0]  # the newest finished ViT
    at.radio(key="inside_source").set_value("validation image").run()
    at.number_input(key="inside_picture").set_value(3).run()
    for number, title in enumerate(INSIDE_STEPS, start=1):
        assert_clean(at)
        assert not at.error, [item.value for item in at.error]
        assert [item.value for item in at.header] == [title]
        assert at.query_params["step"] in (str(number), [str(number)]) and at.query_params["picture"] in ("3", ["3"])
        assert at.get("latex"), title  # the formula
        assert any("vitcore" in expander.label for expander in at.expander) and at.expander[-1].code, title  # the real code
        answer = next(toggle for toggle in at.toggle if toggle.key.startswith("inside_answer_"))
        before = len(at.markdown)
        answer.set_value(True).run()
        assert len(at.markdown) == before + 1, title  # the answer appears on a click
        if number < len(INSIDE_STEPS):
            at.button(key="inside_next").click().run()
    assert at.button(key="inside_next").disabled
    probabilities = next(item.value for item in at.markdown if item.value.startswith("| class | probability |"))
    shares = [float(line.split("|")[2].strip().rstrip("%")) for line in probabilities.splitlines()[2:]]
    assert len(shares) == 5 and abs(sum(shares) - 100) < 0.5 and shares == sorted(shares, reverse=True)
    at.button(key="inside_back").click().run()
    assert [item.value for item in at.header] == [INSIDE_STEPS[5]]
    assert any("settles at layer" in item.value for item in at.caption)


def test_inside_the_vit_opens_on_the_step_and_picture_of_its_address(trained):
    """A teacher's link (?step=4&picture=2) puts every student on the same step; a bad step says so and starts at 1."""
    student = new_app().run()
    student.query_params["step"] = "4"
    student.query_params["picture"] = "2"
    student.switch_page("views/inside_vit.py").run()
    student.radio(key="inside_source").set_value("validation image").run()
    assert_clean(student)
    assert [item.value for item in student.header] == [INSIDE_STEPS[3]]
    assert student.number_input(key="inside_picture").value == 2
    rows = [caption.value for caption in student.caption if caption.value.startswith("Every row of the weights sums to 1")]
    assert rows and "from 1.0000 to 1.0000" in rows[0]
    lost = new_app().run()
    lost.query_params["step"] = "nine"
    lost.switch_page("views/inside_vit.py").run()
    assert_clean(lost)
    assert any("There is no step 'nine'" in item.value for item in lost.warning)
    assert [item.value for item in lost.header] == [INSIDE_STEPS[0]]


def test_inside_the_vit_takes_an_upload_and_refuses_a_bad_one(trained):
    at = trained["at"]
    at.switch_page("views/inside_vit.py").run()
    at.radio(key="inside_source").set_value("upload your own").run()
    assert_clean(at)
    assert any("Choose a picture" in item.value for item in at.info)
    at.file_uploader(key="inside_upload").set_value(("photo.jpg", jpeg_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert not at.error and at.header
    at.file_uploader(key="inside_upload").set_value(("bad.jpg", b"not a picture at all", "image/jpeg")).run()
    assert_clean(at)
    assert len(at.error) == 1 and "Traceback" not in at.error[0].value
