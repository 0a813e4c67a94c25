"""Every dashboard page renders with AppTest, and the widgets that need no training work."""

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.services.paths import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")
PAGES = ["views/home.py", "views/data.py", "views/train.py", "views/attention.py", "views/compare.py", "views/attention_lab.py"]


def write_folder_dataset(root, classes=("cat", "dog"), per_split=3):
    """A real ROOT/{train,val}/<class>/*.jpg folder with distinct JPEG files, plus one leaked name."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_split):
                pixels = rng.integers(0, 255, size=(48, 48, 3), dtype=np.uint8)
                pixels[..., label] = 255
                Image.fromarray(pixels).save(folder / f"{split}_{name}_{index}.jpg", quality=90)
    leaked = Image.fromarray(np.full((48, 48, 3), 128, dtype=np.uint8))
    leaked.save(root / "train" / classes[0] / "shared.jpg")
    leaked.save(root / "val" / classes[0] / "shared.jpg")
    return root


def parse_count(text: str) -> float:
    """'497.54 M' -> 497540000.0 (inverse of vitcore.models.cost.format_count)."""
    number, _, unit = text.partition(" ")
    return float(number) * {"": 1, "k": 1e3, "M": 1e6, "B": 1e9}[unit]


def new_app() -> AppTest:
    return AppTest.from_file(HOME, default_timeout=120)


def assert_clean(at: AppTest):
    assert not at.exception, [item.value for item in at.exception]


def test_every_page_renders_and_empty_states_point_to_the_next_step(app_env):
    at = new_app().run()
    assert_clean(at)
    assert any("embedded synthetic dataset" in item.value for item in at.info)
    assert at.button(key="home_train_both").label == "Train a ViT and a CNN on this data"
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert_clean(at)
        assert not at.error, (page, [item.value for item in at.error])
    at.switch_page("views/attention.py").run()
    assert any("No ViT run" in item.value and "Train" in item.value for item in at.info)
    at.switch_page("views/compare.py").run()
    assert any("No ViT and CNN run" in item.value for item in at.info)
    at.switch_page("views/train.py").run()
    assert any("No runs yet" in item.value for item in at.info)


def test_train_page_shows_size_and_time_before_starting_and_warns_for_the_homework_model(app_env):
    at = new_app().run()
    at.switch_page("views/train.py").run()
    assert_clean(at)
    metrics = {metric.label: metric.value for metric in at.metric}
    classroom_parameters = parse_count(metrics["parameters"])
    assert 10_000 < classroom_parameters < 50_000_000  # the classroom ViT: small enough for a CPU
    assert metrics["estimated time"]
    assert not at.warning
    at.selectbox(key="train_preset_vit").set_value("homework").run()
    assert_clean(at)
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["parameters"].startswith("497.")
    assert parse_count(metrics["parameters"]) > 100 * classroom_parameters
    assert any("497" in item.value for item in at.warning)
    at.radio(key="train_kind").set_value("cnn").run()
    assert_clean(at)
    assert parse_count({metric.label: metric.value for metric in at.metric}["parameters"]) < classroom_parameters


def test_the_train_pages_share_slider_sets_the_training_images_and_the_run(app_env):
    import re

    at = new_app().run()
    at.switch_page("views/train.py").run()
    images = lambda: int(re.search(r"on (\d+) training images", next(  # noqa: E731
        item.value for item in at.caption if "training images" in item.value)).group(1))
    full = images()
    slider = next(widget for widget in at.slider if widget.key.startswith("train_share_"))
    assert slider.value == 100
    slider.set_value(25).run()
    assert_clean(at)
    assert images() == full // 4  # the same number of pictures of each class, a quarter of them
    at.button(key="train_start").click().run()
    assert_clean(at)
    from app.state import get_run_store, get_scheduler

    run_id = at.session_state["train_watch"]
    assert get_run_store().get(run_id).config()["train_config"]["train_fraction"] == 0.25
    assert get_scheduler().wait_until_idle(timeout=120)  # a few pictures: it ends soon; nothing trains on into other tests


def test_the_distilled_recipe_offers_the_finished_cnn_runs_of_this_dataset_as_teachers(app_env, monkeypatch):
    monkeypatch.setenv("VIT_CLASSROOM_TRAIN_OVERRIDES", '{"epochs": 1, "max_train_batches_per_epoch": 2}')
    from app.state import active_dataset, get_run_store, get_scheduler
    from vitcore.models.config import CNNConfig, config_to_dict
    from vitcore.models.factory import build_model

    data = active_dataset()
    store = get_run_store()

    def cnn_run(name, dataset_id, status="finished"):
        config = CNNConfig(arch="hw4", num_classes=len(data.class_names), image_size=64)
        run = store.create_run(name, config_to_dict(config), {"epochs": 1}, data.class_names, dataset_id, "test")
        run.save_checkpoint({"model": build_model(config).state_dict(), "model_config": config_to_dict(config),
                             "class_names": list(data.class_names)})
        run.set_status(status, "")
        return run.id

    here, elsewhere, unfinished = cnn_run("cnn-here", data.dataset_id), cnn_run("cnn-away", "folder-x"), cnn_run(
        "cnn-busy", data.dataset_id, status="stopped")
    at = new_app().run()
    at.switch_page("views/train.py").run()
    at.selectbox(key="train_preset_vit").set_value("distilled").run()
    assert_clean(at)
    picker = next(widget for widget in at.selectbox if widget.key.startswith("train_teacher_"))
    assert picker.value is None and len(picker.options) == 2 and picker.options[1].endswith(here[-4:])
    picker.set_value(here).run()
    assert_clean(at)
    at.button(key="train_start").click().run()
    assert_clean(at)
    run_id = at.session_state["train_watch"]
    assert store.get(run_id).config()["train_config"]["teacher_run"] == here
    assert get_scheduler().wait_until_idle(timeout=300)  # a few pictures per epoch: the job loads the teacher and trains
    status = store.get(run_id).status()
    assert status["status"] == "finished", status  # the scheduler's job found and used the teacher
    assert not any(label.endswith((elsewhere[-4:], unfinished[-4:])) for label in picker.options)


def test_attention_lab_equivalence_timing_and_homework_bugs(app_env):
    at = new_app().run()
    at.switch_page("views/attention_lab.py").run()
    assert_clean(at)
    sources = [block.value for block in at.code]
    assert any("class LoopAttention" in code for code in sources)
    assert any("class EinsumAttention" in code for code in sources)
    assert any("every row sums" in item.value.lower() for item in at.success)  # all bugs off: rows sum to 1
    at.button(key="lab_equivalence").click().run()
    assert_clean(at)
    assert any("All variants agree" in item.value for item in at.success)
    at.button(key="lab_timing").click().run()
    assert_clean(at)
    assert "lab_timings" in at.session_state and set(at.session_state["lab_timings"]) == {"loop", "einsum", "fused"}
    assert any("All variants agree" in item.value for item in at.success)  # the check's result is still shown
    at.checkbox(key="bug_scale_after_softmax").check().run()
    assert_clean(at)
    assert any("do **not** sum to 1" in item.value for item in at.warning)
    row_sum_max = {metric.label: metric.value for metric in at.metric}["row sums: max"]
    assert float(row_sum_max) < 0.5  # 1/sqrt(d) with d = 8 is about 0.35
    at.checkbox(key="bug_flattened_sequence_layers").check().run()
    assert_clean(at)
    assert {metric.label: metric.value for metric in at.metric}["parameters at homework size"].endswith(" M")


def page_text(at: AppTest) -> list[str]:
    """Every text a student reads on the page: titles, headings, markdown, captions, alerts and widget labels/choices."""
    texts = [item.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning")
             for item in getattr(at, kind)]
    for kind in ("selectbox", "radio"):
        for widget in getattr(at, kind):
            texts.append(widget.label)
            texts.extend(str(option) for option in widget.options)
    return texts


def text_outside_expanders(at: AppTest) -> list[str]:
    """page_text minus what sits inside a folded expander (details a student opens on purpose)."""
    inside = {text for expander in at.expander for text in page_text(expander)}
    return [text for text in page_text(at) if text not in inside]


RECIPE_IDS = ("vit/homework", "vit/classroom", "vit/best", "vit/distilled", "cnn/hw4", "cnn/best")  # the CLI's preset names


def test_home_and_train_speak_plainly_and_keep_the_ids_folded(app_env):
    """Preset and dataset ids stay for the CLI, in expanders; the pages name recipes plainly with one sentence each."""
    from vitcore.presets import get_preset, list_presets

    at = new_app().run()
    assert_clean(at)
    data_id = at.code[0].value if at.code else ""
    assert data_id.startswith("synthetic-seed")  # the dataset id, folded away in an expander
    visible = " ".join(text_outside_expanders(at))
    assert data_id not in visible and not any(recipe_id in visible for recipe_id in RECIPE_IDS), visible
    assert get_preset("vit", "classroom").title in visible and get_preset("cnn", "hw4").title in visible
    assert "Measured on the embedded drawings" in visible  # the one-click recipes' figures are for the data in use

    at.switch_page("views/train.py").run()
    assert_clean(at)
    for kind in ("vit", "cnn"):
        at.radio(key="train_kind").set_value(kind).run()
        picker = at.selectbox(key=f"train_preset_{kind}")
        assert picker.label == "recipe" and picker.options == [get_preset(kind, name).title for name in list_presets(kind)]
        for name in list_presets(kind):
            picker.set_value(name).run()
            assert_clean(at)
            preset = get_preset(kind, name)
            visible = text_outside_expanders(at)
            assert not any(recipe_id in text for text in visible for recipe_id in RECIPE_IDS), visible
            assert not any("stride-2" in text or "16×16 patch cut" in text for text in visible), visible
            summary = next(text for text in visible if text.startswith(preset.summary))
            assert ("Measured on the embedded drawings" in summary or "Measured on the homework's photos (coco5-64)" in summary
                    or not preset.measured)  # a recipe not measured yet says nothing about its accuracy
            details = at.expander[0]
            assert f"--model {kind} --preset {name}" in details.code[0].value and preset.description in details.markdown[0].value
            picker = at.selectbox(key=f"train_preset_{kind}")
    # Epochs, learning rate and augmentation come first; every other recipe input is folded under "More settings".
    more = next(expander for expander in at.expander if expander.label == "More settings")
    folded = {widget.label for widget in [*more.number_input, *more.selectbox]}
    shown = {widget.label for widget in [*at.number_input, *at.selectbox]} - folded
    assert {"epochs", "learning rate", "augmentation"} <= shown
    assert shown - {"epochs", "learning rate", "augmentation", "recipe"} == set(), shown
    assert {"batch size", "seed", "weight decay", "label smoothing"} <= folded


def test_preset_figures_name_the_dataset_they_were_measured_on():
    from vitcore.presets import COCO5_64, EMBEDDED, get_preset

    classroom = get_preset("vit", "classroom")
    assert classroom.measured_text(EMBEDDED).startswith("Measured on the embedded drawings: ")
    assert classroom.measured_text(COCO5_64).startswith("Measured on the homework's photos (coco5-64): 69.9 %")
    best = get_preset("vit", "best")  # never measured on the drawings: its coco5-64 figure, said to be for coco5-64
    assert best.measured_text(EMBEDDED).startswith("Measured on the homework's photos (coco5-64): ")


def test_lab_timing_text_says_what_was_measured():
    """The words under the timing bars are built from the numbers, never from what the variants are expected to do."""
    from app.services.lab_tools import timing_summary

    text = timing_summary({"loop": 0.0065, "einsum": 0.0071, "fused": 0.0077})  # what a 2-core CPU measured once
    assert text.startswith("Measured just now on this server, fastest first: **loop** 6.50 ms, **einsum** 7.10 ms (1.1× the time), "
                           "**fused** 7.70 ms (1.2× the time).")
    assert "17 tokens" in text
    reversed_order = timing_summary({"loop": 0.009, "einsum": 0.004, "fused": 0.002})
    assert reversed_order.index("**fused**") < reversed_order.index("**einsum**") < reversed_order.index("**loop**")


def test_attention_lab_states_the_measured_order_and_no_fixed_ranking(app_env):
    at = new_app().run()
    at.switch_page("views/attention_lab.py").run()
    assert_clean(at)
    before = " ".join(page_text(at)).lower()
    assert "slowest" not in before and "fastest" not in before.replace("which one is fastest depends", "")
    at.button(key="lab_timing").click().run()
    assert_clean(at)
    from app.services.lab_tools import timing_summary

    timings = at.session_state["lab_timings"]
    assert timing_summary(timings) in [item.value for item in at.caption]
    fastest = min(timings, key=timings.get)
    assert f"fastest first: **{fastest}**" in timing_summary(timings)


def test_data_page_refuses_bad_folders_and_switches_to_a_good_one(app_env):
    outside = app_env.parent / "outside"
    outside.mkdir()
    (app_env / "not_a_dataset").mkdir()
    write_folder_dataset(app_env / "pets")
    at = new_app().run()
    at.switch_page("views/data.py").run()
    assert_clean(at)
    at.radio(key="data_choice").set_value("a data folder").run()
    for text, expected in (
        ("../outside", "outside the data folders"),
        (str(outside), "outside the data folders"),
        ("not_a_dataset", "train"),
    ):
        at.text_input(key="data_folder_text").set_value(text).run()
        at.button(key="data_use_folder").click().run()
        assert_clean(at)
        assert any(expected in item.value for item in at.error), (text, [item.value for item in at.error])
    at.text_input(key="data_folder_text").set_value("pets").run()
    at.button(key="data_use_folder").click().run()
    assert_clean(at)
    assert not at.error, [item.value for item in at.error]
    assert at.session_state["source"] == str((app_env / "pets").resolve())
    assert at.query_params["source"] in (str((app_env / "pets").resolve()), [str((app_env / "pets").resolve())])
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["in train and val"] == "1"
    counts = at.dataframe[0].value
    assert int(counts.loc["cat", "train"]) == 4 and int(counts.loc["dog", "val"]) == 3
    at.checkbox(key="data_drop_leaked").check().run()
    assert_clean(at)
    counts = at.dataframe[0].value
    assert int(counts.loc["cat", "train"]) == 3 and int(counts.loc["cat", "val"]) == 3


def test_pages_are_still_unless_the_server_turns_animations_on(app_env, monkeypatch):
    """The entry point adds one style-only block that stops animations; VIT_CLASSROOM_ANIMATIONS=on leaves them."""
    from app.components.reduced_motion import STILL_PAGE_CSS

    def still_blocks(at):
        return [item for item in at.get("html") if "animation: none" in item.proto.body]

    at = new_app().run()
    assert_clean(at)
    assert len(still_blocks(at)) == 1 and still_blocks(at)[0].proto.body == STILL_PAGE_CSS
    assert '[data-stale="true"] { opacity: 1 !important; }' in STILL_PAGE_CSS  # reruns do not blink the page
    at.switch_page("views/train.py").run()
    assert len(still_blocks(at)) == 1  # every page, drawn once
    monkeypatch.setenv("VIT_CLASSROOM_ANIMATIONS", "on")
    at.run()
    assert_clean(at)
    assert still_blocks(at) == [] and not at.warning
    monkeypatch.setenv("VIT_CLASSROOM_ANIMATIONS", "sometimes")
    at.run()
    assert_clean(at)
    assert len(still_blocks(at)) == 1
    assert any("VIT_CLASSROOM_ANIMATIONS must be on or off" in item.value for item in at.warning)
