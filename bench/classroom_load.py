"""Classroom load at the protocol level: N students on one server, simulated by Locust users, no browsers.

bench/load.py drives real Chromium tabs, but on this 2-core machine the browsers take most of the CPU, so its
figures beyond N = 10 measure the laptop, not the server. In a class the browsers run on the students' own
machines. Here each student is a Locust user that speaks Streamlit's own websocket protocol and upload
endpoint (bench/streamlit_wire.py, built on the protobuf messages that ship with streamlit), so the server gets
the same messages a browser would send and the client costs little CPU.

What runs (all real, all on 127.0.0.1):
  1. a short ViT run is trained with the CLI on a small synthetic folder (the run students pick), as in
     bench/load.py, and `streamlit run app/Home.py` starts with the same settings as there;
  2. the teacher's tab opens Train and presses "Start training": a long ViT run trains INSIDE the server for
     the whole benchmark, and the teacher's tab keeps rerunning the live-curve fragments on their timers;
  3. a warm-up student loads the model once (not counted);
  4. for each N in --users, one round: --watchers extra students open Train and keep polling its live curves
     (each `st.fragment(run_every=...)` rerun on its own timer, as the frontend does); N students at once
     open Attention (index page, its scripts and style sheets, the websocket, the first script run: the
     page-open time), pick the finished ViT run and "upload your own", wait at a common barrier, then each
     uploads a different real photo. The overlay latency runs from the upload request to the overlay image
     (the image element under "Attention on the picture") downloaded from /media and decoded; the page
     latency to the end of that script run.

Measured per round: overlay p50/p95/max, page-open p50/p95 (and `page_assets_p95_s`, its index-page, script
and style-sheet part), the Train page's fragment-rerun p95, errors (exception boxes, error boxes, timeouts,
HTTP errors), the server's CPU seconds and share of the machine in the open phase (round start to the
barrier) and the upload phase, its peak RSS (server and children, from /proc), and the CPU the load client itself used.
Every request is also reported to Locust's event hooks; each round's JSON carries Locust's own stats of them.

Photos: real COCO photos from $VIT_CLASSROOM_DATA/coco-tiny (160 full-size JPEGs) when that folder exists
(--photos coco-tiny, the default then), else photo-like 1024x768 JPEGs drawn by bench/load.py (--photos
drawn, the same pictures the Chromium bench uploads; use it to compare the two benchmarks).

Run from the repository root:
    .venv/bin/python bench/classroom_load.py --users 10 30 60
    .venv/bin/python bench/classroom_load.py --users 5 10 --watchers 0 --photos drawn   # like bench/load.py
    .venv/bin/python bench/classroom_load.py --users 30 --cached-assets                  # browsers that opened it before
    .venv/bin/python bench/classroom_load.py --quick                                     # smoke test

Prints a table, then one JSON line; its top-level `p95_s`, `page_open_p95_s` and `errors` are
those of the largest N.
"""

from __future__ import annotations

# Locust runs its users as gevent greenlets; the standard library must be patched before anything else opens
# sockets or starts threads (importing locust does this too, but it must come first to be complete).
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from locust import User, events  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.browser_support import start_streamlit, stop_streamlit  # noqa: E402
from bench.common import REPO_ROOT, cpu_name, default_data_root, log, print_json_line, print_table  # noqa: E402
from bench.load import (  # noqa: E402
    OVERLAY_HEADING, PHOTO_SIZE, LoadConfig, RssSampler, cpu_seconds_per_process,
    cpu_used_between, newest_other_run, percentile, prepare_finished_vit_run, run_status, server_env, training_steps, write_photo_jpeg,
)
from bench.streamlit_wire import StreamlitTab, WireError  # noqa: E402

DEFAULT_USERS = (10, 30, 60)  # N per round: students uploading on Attention
P95_TARGET_S = 3.0  # upload-to-overlay p95 goal at N = 30
PAGE_OPEN_TARGET_S = 5.0  # page-open p95 goal at N = 30
UPLOADER_LABEL = "JPEG, PNG"  # the Attention page's file uploader label starts with this
HOLD_AFTER_UPLOADS_S = 3.0  # tabs stay open this long after the last answer (every Train timer fires at least once)
TRAIN_PAGE, ATTENTION_PAGE = "train", "attention"  # url paths of the two pages


@dataclass
class ClassroomConfig:
    """What one invocation does."""

    users: list[int]  # N values, one round each: students who open Attention and upload
    watchers: int | None  # extra students on the Train page per round (None: N // 5)
    photos: str  # "coco-tiny" (real COCO photos from the shared data) or "drawn" (bench/load.py's photo-like JPEGs)
    timeout_s: float  # any one step of a student (page open, a rerun, the upload) gives up after this
    barrier_timeout_s: float  # the longest a ready student waits for the rest of the class before uploading
    max_seconds: float  # the whole benchmark stops itself after this
    train_in_server: bool  # start the long training run from the teacher's Train tab first
    synth_per_class: int  # the server's embedded synthetic set: training images per class
    seed: int  # picks the photos
    quick: bool  # smoke-test mode
    cached_assets: bool = False  # students' browsers already hold the app's scripts (a second visit): skip them


@dataclass
class StudentResult:
    """What one simulated student saw."""

    role: str  # "upload" (Attention) or "watch" (Train)
    page_open_s: float | None = None  # index page + assets + websocket + first script run
    page_assets_s: float | None = None  # of page_open_s: the index page, its scripts and style sheets
    overlay_s: float | None = None  # upload request -> overlay image downloaded and decoded
    complete_s: float | None = None  # upload request -> the script run finished
    overlay_pixels: tuple[int, int] | None = None  # the decoded overlay's (width, height)
    fragment_s: list[float] = field(default_factory=list)  # a watcher's live-curve fragment reruns
    errors: list[str] = field(default_factory=list)  # empty = a clean session


class Round:
    """The shared state of one round: who is ready, the common upload moment, the results."""

    def __init__(self, uploaders: int, photos: list[tuple[str, bytes]], run_id: str, config: ClassroomConfig,
                 on_release, runs_root: Path, training_run: str | None):
        self.uploaders = uploaders  # students who upload this round
        self.photos = photos  # (file name, JPEG bytes), one per uploader
        self.run_id = run_id  # the finished ViT run students pick
        self.config = config
        self.on_release = on_release  # called once at the common upload moment (the phase's opening CPU reading)
        self.results: list[StudentResult] = []  # appended as students finish
        self.ready = 0  # uploaders at the barrier so far
        self.done = 0  # uploaders finished so far
        self.release = Event()  # set when every uploader is ready (or the barrier timed out)
        self.all_done = Event()  # set when every uploader has finished
        self.end = Event()  # set by the driver: watchers stop, every tab closes
        self.next_photo = 0
        self.runs_root = runs_root
        self.training_run = training_run

    def take_photo(self) -> tuple[str, bytes]:
        photo = self.photos[self.next_photo % len(self.photos)]
        self.next_photo += 1
        return photo

    def arrive(self) -> None:
        self.ready += 1
        if self.ready == self.uploaders:
            self.on_release()
            self.release.set()

    def finish(self, result: StudentResult) -> None:
        self.results.append(result)
        self.done += 1
        if self.done == self.uploaders:
            self.all_done.set()


def report(name: str, seconds: float, error: str | None = None) -> None:
    """One request for Locust's statistics (a WebSocket-level step)."""
    events.request.fire(request_type="WS", name=name, response_time=seconds * 1000, response_length=0,
                        exception=WireError(error) if error else None, context={})


class Student(User):
    """A student on the Attention page: open it, pick the run, choose "upload your own", upload, read the overlay."""

    abstract = True  # made concrete per round by make_user_classes
    round: Round  # set per round

    def on_start(self) -> None:
        self.result = StudentResult(role="upload")
        self.tab = StreamlitTab(self.host, timeout_s=self.round.config.timeout_s,
                                fetch_assets=not self.round.config.cached_assets)

    def on_stop(self) -> None:
        self.tab.close()

    @staticmethod
    def _step_errors(result, errors: list[str]) -> None:
        errors += [error for error in result.errors if error not in errors]

    def do_session(self) -> None:
        state, result, tab = self.round, self.result, self.tab
        arrived = False
        step = "open Attention"
        try:
            opened = tab.open(ATTENTION_PAGE)
            result.page_open_s, result.page_assets_s = opened.seconds, opened.assets_s
            report("open Attention", opened.seconds)
            self._step_errors(opened, result.errors)
            step = "pick the ViT run"
            self._step_errors(tab.choose("selectbox", "ViT run", state.run_id[-4:]), result.errors)
            step = "choose upload your own"
            self._step_errors(tab.choose("radio", "Picture", "upload your own"), result.errors)
            state.arrive()
            arrived = True
            state.release.wait(state.config.barrier_timeout_s)
            step = "upload"
            name, data = state.take_photo()
            started = time.monotonic()

            def on_overlay(element) -> None:
                picture = tab.fetch_image(element)
                result.overlay_pixels = picture.size
                result.overlay_s = time.monotonic() - started

            finished = tab.upload(UPLOADER_LABEL, name, data, until_image_under=OVERLAY_HEADING, on_image=on_overlay)
            result.complete_s = finished.seconds
            self._step_errors(finished, result.errors)
            report("upload -> overlay", result.overlay_s if result.overlay_s is not None else finished.seconds,
                   None if result.overlay_s is not None else "no overlay")
            report("upload -> page complete", finished.seconds)
        except Exception as error:  # a failed session is a figure, not a crash of the benchmark
            result.errors.append(f"{type(error).__name__} at step {step}: {str(error).splitlines()[0][:200] if str(error) else ''}")
            report(step, 0.0, str(error) or type(error).__name__)
        finally:
            if not arrived:
                state.arrive()
            state.finish(result)

    def run_once(self) -> None:
        self.do_session()
        self.round.end.wait()  # like a class, the tab stays open until the round is over
        raise StopUser()

    tasks = [run_once]


def watch_train_page(tab: StreamlitTab, result: StudentResult, end: Event, timeout_s: float) -> None:
    """Keep a Train tab's live fragments rerunning on their timers until `end` is set."""
    while not end.is_set():
        rerun = tab.run_due_fragment(stop_at=time.monotonic() + 1.0)
        if rerun is None:
            end.wait(0.5)
            continue
        result.fragment_s.append(rerun.seconds)
        report("Train fragment rerun", rerun.seconds, rerun.errors[0] if rerun.errors else None)
        result.errors += [error for error in rerun.errors if error not in result.errors]


class Watcher(User):
    """A student watching the Train page's live curves: its fragments rerun on their own timers."""

    abstract = True
    round: Round

    def on_start(self) -> None:
        self.result = StudentResult(role="watch")
        self.round.results.append(self.result)  # filled in while it watches; read when the round ends
        self.tab = StreamlitTab(self.host, timeout_s=self.round.config.timeout_s,
                                fetch_assets=not self.round.config.cached_assets)

    def on_stop(self) -> None:
        self.tab.close()

    def watch(self) -> None:
        try:
            opened = self.tab.open(TRAIN_PAGE)
            self.result.page_open_s = opened.seconds
            report("open Train", opened.seconds)
            self.result.errors += opened.errors
            watch_train_page(self.tab, self.result, self.round.end, self.round.config.timeout_s)
        except Exception as error:
            self.result.errors.append(f"{type(error).__name__} on Train: {str(error)[:200]}")
        raise StopUser()

    tasks = [watch]


def make_user_classes(state: Round, watchers: int) -> list[type[User]]:
    """This round's concrete Locust user classes, each with its fixed count."""
    student = type("AttentionStudent", (Student,), {"abstract": False, "fixed_count": state.uploaders, "round": state})
    classes: list[type[User]] = [student]
    if watchers:
        classes.append(type("TrainWatcher", (Watcher,), {"abstract": False, "fixed_count": watchers, "round": state}))
    return classes


# ------------------------------------------------------------------ photos
def load_photos(config: ClassroomConfig, folder: Path) -> list[tuple[str, bytes]]:
    """The pictures students upload: real COCO photos, or bench/load.py's drawn ones (one per student of the largest N)."""
    count = max(config.users)
    if config.photos == "coco-tiny":
        shared = default_data_root()
        tiny = shared / "coco-tiny" if shared is not None else None
        files = sorted(tiny.glob("*2017/*.jpg")) if tiny is not None and tiny.is_dir() else []
        if not files:
            raise SystemExit("--photos coco-tiny needs $VIT_CLASSROOM_DATA/coco-tiny; use --photos drawn")
        random.Random(config.seed).shuffle(files)
        return [(path.name, path.read_bytes()) for path in files[:count]] or []
    size = (320, 240) if config.quick else PHOTO_SIZE
    return [(f"drawn-{i}.jpg", write_photo_jpeg(folder / f"drawn-{i}.jpg", size, seed=config.seed * 1000 + i).read_bytes())
            for i in range(count)]


# ------------------------------------------------------------------ rounds
def run_round(url: str, count: int, watchers: int, run_id: str, photos, config: ClassroomConfig, sampler: RssSampler,
              runs_root: Path, training_run: str | None) -> dict:
    """One round of N uploading students and its watchers; a summary dict."""
    at_release: dict = {}

    def mark_release() -> None:
        at_release.update(cpu=cpu_seconds_per_process(sampler.root_pid), time=time.monotonic(),
                          steps=training_steps(runs_root, training_run), client=client_cpu_s())

    state = Round(count, photos, run_id, config, mark_release, runs_root, training_run)
    environment = Environment(user_classes=make_user_classes(state, watchers), events=events, host=url)
    runner = environment.create_local_runner()
    sampler.take_peak()
    started = time.monotonic()
    at_start = dict(cpu=cpu_seconds_per_process(sampler.root_pid), client=client_cpu_s())
    runner.start(user_count=count + watchers, spawn_rate=count + watchers)
    finished_in_time = state.all_done.wait(config.barrier_timeout_s + 3 * config.timeout_s + 30)
    closing = {}
    if "cpu" in at_release:
        closing = dict(cpu=cpu_seconds_per_process(sampler.root_pid), time=time.monotonic(),
                       steps=training_steps(runs_root, training_run), client=client_cpu_s())
    gevent.sleep(HOLD_AFTER_UPLOADS_S)  # the class looks at its answers; the Train tabs keep redrawing
    state.end.set()
    gevent.sleep(1.0)  # watchers and students leave their loops
    runner.quit()
    wall_s = time.monotonic() - started
    locust_stats = {  # Locust's own view of the same requests (its response times are rounded to its buckets)
        name: {"requests": entry.num_requests, "failures": entry.num_failures,
               "p50_s": entry.get_response_time_percentile(0.5) / 1000, "p95_s": entry.get_response_time_percentile(0.95) / 1000}
        for (name, _), entry in environment.stats.entries.items()
    }
    uploads = [result for result in state.results if result.role == "upload"]
    watching = [result for result in state.results if result.role == "watch"]
    overlays = [result.overlay_s for result in uploads if result.overlay_s is not None]
    opens = [result.page_open_s for result in uploads if result.page_open_s is not None]
    fragments = [seconds for result in watching for seconds in result.fragment_s]
    errors = [error for result in state.results for error in result.errors]
    if not finished_in_time:
        errors.append(f"round timeout: {count - state.done} of {count} students never finished")
    phase = None  # from the common upload moment to the last student's answer
    if closing:
        phase = phase_figures(at_release, closing)
        phase["training_steps"] = closing["steps"] - at_release["steps"]
    open_phase = None  # from the round's start to the barrier: every tab opened and picked
    if at_release:
        open_phase = phase_figures(dict(at_start, time=started), at_release)
    return {
        "users": count,
        "watchers": watchers,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "overlays": len(overlays),
        "overlay_p50_s": percentile(overlays, 0.5),
        "overlay_p95_s": percentile(overlays, 0.95),
        "overlay_max_s": max(overlays) if overlays else None,
        "complete_p95_s": percentile([r.complete_s for r in uploads if r.complete_s is not None], 0.95),
        "page_open_p50_s": percentile(opens, 0.5),
        "page_open_p95_s": percentile(opens, 0.95),
        "page_assets_p95_s": percentile([r.page_assets_s for r in uploads if r.page_assets_s is not None], 0.95),
        "train_fragment_p95_s": percentile(fragments, 0.95),
        "train_fragment_reruns": len(fragments),
        "overlay_sizes": sorted({r.overlay_pixels for r in uploads if r.overlay_pixels}),
        "peak_server_rss_mb": round(sampler.take_peak(), 1),
        "open_phase": open_phase,
        "upload_phase": phase,
        "round_wall_s": round(wall_s, 2),
        "locust_stats": locust_stats,
    }


def phase_figures(before: dict, after: dict) -> dict:
    """Wall time, server CPU seconds and share of the machine, and the client's CPU between two readings.

    Each reading is a dict with `time` (monotonic), `cpu` (cpu_seconds_per_process) and `client` (client_cpu_s).
    """
    wall = after["time"] - before["time"]
    server_cpu = cpu_used_between(before["cpu"], after["cpu"])["server"]
    return {
        "wall_s": round(wall, 2),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_share": round(server_cpu / max(wall, 1e-9) / (os.cpu_count() or 1), 3),
        "client_cpu_s": round(after["client"] - before["client"], 2),
    }


def client_cpu_s() -> float:
    """CPU seconds this load-client process has used (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_teacher(url: str, config: ClassroomConfig, end: Event) -> tuple[StudentResult, gevent.Greenlet]:
    """The teacher's tab: open Train, press Start training, then keep its live view polling until `end`."""
    tab = StreamlitTab(url, timeout_s=max(config.timeout_s, 120.0))
    result = StudentResult(role="teacher")
    opened = tab.open(TRAIN_PAGE)
    result.errors += opened.errors
    pressed = tab.press("Start training")
    result.errors += pressed.errors
    if not tab.auto_reruns:
        raise RuntimeError(f"the Train page shows no live view after Start training: {pressed.errors}")

    def keep_watching() -> None:
        try:
            watch_train_page(tab, result, end, config.timeout_s)
        finally:
            tab.close()

    return result, gevent.spawn(keep_watching)


def warm_up(url: str, run_id: str, photos, config: ClassroomConfig) -> dict:
    """One student session before the rounds: the server loads the model and warms its caches (not counted)."""
    state = Round(1, photos[-1:], run_id, config, lambda: None, Path("."), None)
    student = type("WarmUpStudent", (Student,), {"abstract": False, "round": state, "host": url})
    user = student(Environment(events=events, host=url))
    user.on_start()
    try:
        user.do_session()
    finally:
        user.on_stop()
    result = state.results[0]
    return {"page_open_s": result.page_open_s, "overlay_s": result.overlay_s, "errors": result.errors}


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> ClassroomConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=list(DEFAULT_USERS), help="N students uploading, one round each")
    parser.add_argument("--watchers", type=int, default=None, help="extra students on the Train page per round (default N // 5)")
    tiny = default_data_root()
    has_tiny = tiny is not None and (tiny / "coco-tiny").is_dir()
    parser.add_argument("--photos", choices=["coco-tiny", "drawn"], default="coco-tiny" if has_tiny else "drawn",
                        help="real COCO photos from the shared data, or drawn photo-like JPEGs (the Chromium bench's)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any one step of a student may take")
    parser.add_argument("--barrier-timeout", type=float, default=120.0, help="seconds a ready student waits for the class")
    parser.add_argument("--max-seconds", type=float, default=1500.0, help="the whole benchmark stops after this")
    parser.add_argument("--synth-per-class", type=int, default=40, help="server's embedded set: train images per class")
    parser.add_argument("--no-training", action="store_true", help="do not start the training run in the server")
    parser.add_argument("--seed", type=int, default=0, help="picks the photos")
    parser.add_argument("--quick", action="store_true", help="smoke test: N=2, one watcher, tiny data")
    parser.add_argument("--cached-assets", action="store_true",
                        help="students' browsers already hold the app's scripts (they opened it before): no asset downloads")
    args = parser.parse_args(argv)
    if any(count < 1 for count in args.users) or (args.watchers is not None and args.watchers < 0):
        parser.error("--users values must be at least 1 and --watchers at least 0")
    return ClassroomConfig(
        users=[2] if args.quick else list(args.users),
        watchers=1 if args.quick else args.watchers,
        photos=args.photos,
        timeout_s=float(args.timeout),
        barrier_timeout_s=min(float(args.barrier_timeout), 60.0) if args.quick else float(args.barrier_timeout),
        max_seconds=min(float(args.max_seconds), 280.0) if args.quick else float(args.max_seconds),
        train_in_server=not args.no_training,
        synth_per_class=8 if args.quick else int(args.synth_per_class),
        seed=int(args.seed),
        quick=bool(args.quick),
        cached_assets=bool(args.cached_assets),
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.monotonic()
    prepare = LoadConfig(sessions=[1], session_timeout_s=config.timeout_s, setup_timeout_s=config.timeout_s,
                         max_seconds=config.max_seconds, synth_per_class=config.synth_per_class,
                         prepare_per_class=4 if config.quick else 8, prepare_batches=1 if config.quick else 5,
                         photo_size=PHOTO_SIZE, train_in_server=config.train_in_server, browser_nice=0, quick=config.quick)
    record: dict = {"rounds": []}
    with tempfile.TemporaryDirectory(prefix="vit-classroom-load-") as temp:
        work = Path(temp)
        runs_root = work / "runs"
        env = server_env(work, config.synth_per_class)
        log("[classroom] training a short ViT run with the CLI (the run students pick)")
        run_id = prepare_finished_vit_run(work, env, prepare)
        photos = load_photos(config, work)
        log(f"[classroom] {len(photos)} {config.photos} photos; starting streamlit")
        server = start_streamlit(REPO_ROOT / "app" / "Home.py", work, env)
        sampler = RssSampler(server.process.pid)
        sampler.start()
        teacher_end = Event()
        teacher = None
        try:
            training_run = None
            if config.train_in_server:
                log("[classroom] the teacher starts a long ViT training run on the Train page")
                teacher, teacher_greenlet = start_teacher(server.url, config, teacher_end)
                training_run = newest_other_run(runs_root, {run_id})
                record["training_run"] = training_run
            log("[classroom] warm-up student (loads the model once; not counted)")
            record["warmup"] = warm_up(server.url, run_id, photos, config)
            deadline = started + config.max_seconds
            for count in config.users:
                watchers = config.watchers if config.watchers is not None else count // 5
                if time.monotonic() + config.barrier_timeout_s + 2 * config.timeout_s > deadline:
                    log(f"[classroom] skipping N={count}: the --max-seconds budget is spent")
                    record["rounds"].append({"users": count, "skipped": True})
                    continue
                log(f"[classroom] round N={count} (+{watchers} on Train): open Attention, upload at once")
                summary = run_round(server.url, count, watchers, run_id, photos, config, sampler, runs_root, training_run)
                record["rounds"].append(summary)
                log(f"[classroom] round N={count}: overlay p95 {summary['overlay_p95_s']} s, "
                    f"page open p95 {summary['page_open_p95_s']} s, errors {summary['errors']}")
        finally:
            teacher_end.set()
            if teacher is not None:
                teacher_greenlet.join(timeout=10)
                record["teacher"] = {"fragment_reruns": len(teacher.fragment_s),
                                     "fragment_p95_s": percentile(teacher.fragment_s, 0.95), "errors": teacher.errors}
            record["training_status_after"] = run_status(runs_root, record.get("training_run"))
            sampler.stop()
            stop_streamlit(server)
        log_lines = server.log_text(200_000).splitlines()
        record["server_log_error_lines"] = [line for line in log_lines if "Traceback" in line or "Error" in line][:10]
    emit(config, record, started)
    return 0


def emit(config: ClassroomConfig, record: dict, started: float) -> None:
    rounds = [summary for summary in record["rounds"] if not summary.get("skipped")]
    rows = [[r["users"], r["watchers"], r["errors"], _fmt(r["overlay_p50_s"]), _fmt(r["overlay_p95_s"]),
             _fmt(r["overlay_max_s"]), _fmt(r["page_open_p95_s"]), _fmt(r["train_fragment_p95_s"]),
             _fmt((r["upload_phase"] or {}).get("server_cpu_share")), r["peak_server_rss_mb"]] for r in rounds]
    print_table(
        f"Classroom load over Streamlit's protocol (Locust), a ViT training in the server (cpu: {cpu_name()}, {os.cpu_count()} cores)",
        ["N", "on Train", "errors", "overlay p50 s", "overlay p95 s", "overlay max s", "page open p95 s",
         "Train rerun p95 s", "server CPU share", "peak RSS MB"],
        rows,
    )
    largest = max(rounds, key=lambda summary: summary["users"]) if rounds else None
    thirty = [summary for summary in rounds if summary["users"] == 30]
    print_json_line({
        "bench": "classroom_load",
        "users": config.users,
        "photos": config.photos,
        "quick": config.quick,
        "p95_s": largest["overlay_p95_s"] if largest else None,
        "page_open_p95_s": largest["page_open_p95_s"] if largest else None,
        "errors": sum(summary["errors"] for summary in rounds) if rounds else None,
        "rounds": record["rounds"],
        "target_met_at_30": None if not thirty else all(
            summary["errors"] == 0 and summary["overlay_p95_s"] is not None and summary["overlay_p95_s"] <= P95_TARGET_S
            and summary["page_open_p95_s"] is not None and summary["page_open_p95_s"] <= PAGE_OPEN_TARGET_S
            for summary in thirty),
        "warmup": record.get("warmup"),
        "teacher": record.get("teacher"),
        "training_run": record.get("training_run"),
        "training_status_after": record.get("training_status_after"),
        "server_log_error_lines": record.get("server_log_error_lines"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "total_s": round(time.monotonic() - started, 1),
    })


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
