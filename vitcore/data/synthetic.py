"""The embedded default dataset: five classes of small synthetic scenes, drawn on the fly.

No files are shipped: `generate_synthetic` renders every image from the seed, so the
app works offline and with no data. The classes match the COCO homework
(airplane, bus, cat, dog, pizza); cat vs dog is meant to be the hard pair.

One scene = background (sky, road, indoor, table or a generic pattern) + clutter
shapes + the object (placed, scaled, rotated, mirrored) + sometimes an occluder in
front of it + colour jitter and pixel noise. The object mask (True where the
object is visible after occlusion) is kept so attention maps can be scored.

Every image has its own random generator seeded from (seed, split, index), so an
image does not depend on which other images were drawn or in what order.
"""

import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from PIL import Image

from vitcore.data.dataset import ClassificationData, ImageSplit
from vitcore.data.synthetic_shapes import (
    ACCENT_COLOURS,
    SKY_COLOURS,
    Canvas,
    FramedPen,
    Layer,
    ObjectFrame,
    draw_airplane_side,
    draw_airplane_top,
    draw_bus,
    draw_cat,
    draw_dog,
    draw_pizza,
    ellipse_points,
    jitter_colour,
    pick,
    random_colour,
    rectangle_points,
    shade,
    whole,
)
from vitcore.errors import VitcoreError

SYNTHETIC_ID_PREFIX = "synthetic-"  # every dataset id of the embedded set starts so (runs record it)
SYNTHETIC_CLASS_NAMES = ("airplane", "bus", "cat", "dog", "pizza")  # label i = SYNTHETIC_CLASS_NAMES[i]
SPLIT_CODES = MappingProxyType({"train": 0, "val": 1})  # mixed into each image seed: train and val never match

Progress = Callable[[int, int, str], None]
Painter = Callable[[FramedPen, np.random.Generator], None]


@dataclass(frozen=True)
class SyntheticSceneConfig:
    """How hard the scenes are. The defaults give a learnable but not trivial task."""

    supersample: int = 2  # draw at this many times the final size, then shrink (anti-aliasing)
    background_swap_probability: float = 0.3  # chance a scene ignores its class's usual background
    max_distractors: int = 4  # up to this many clutter shapes behind the object
    occluder_probability: float = 0.4  # chance of a shape partly covering the object
    center_jitter: float = 0.3  # object centre moves up to this fraction of the half-width from the middle
    scale_factor: float = 1.0  # multiplies every object's size range
    noise_std_range: tuple[float, float] = (0.01, 0.06)  # per-image pixel noise std (uniform noise), fraction of 255
    brightness_range: tuple[float, float] = (0.8, 1.15)  # per-image brightness multiplier
    contrast_range: tuple[float, float] = (0.75, 1.15)  # per-image contrast multiplier around the mean

    def fingerprint(self) -> str:
        """Short stable hash of the settings (used in the dataset id when they differ from the defaults)."""
        return hashlib.sha1(repr(sorted(asdict(self).items())).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class ObjectStyle:
    """One way of drawing a class: which painter, how big and how much it may turn."""

    painter: Painter  # draws the object in local coordinates
    weight: float  # relative chance of this style within its class
    scale_range: tuple[float, float]  # object radius as a fraction of the image half-width
    max_rotation: float  # rotation drawn uniformly in +-max_rotation radians
    may_mirror: bool  # whether a left-right flip is allowed
    background: str  # the usual background kind for this class


CLASS_STYLES = MappingProxyType({  # read-only table: class name -> its drawing styles
    "airplane": (
        ObjectStyle(draw_airplane_top, 0.65, (0.6, 0.88), math.pi, False, "sky"),
        ObjectStyle(draw_airplane_side, 0.35, (0.65, 0.9), 0.35, True, "sky"),
    ),
    "bus": (ObjectStyle(draw_bus, 1.0, (0.62, 0.9), 0.15, True, "road"),),
    "cat": (ObjectStyle(draw_cat, 1.0, (0.42, 0.62), 0.45, True, "indoor"),),
    "dog": (ObjectStyle(draw_dog, 1.0, (0.42, 0.62), 0.45, True, "indoor"),),
    "pizza": (ObjectStyle(draw_pizza, 1.0, (0.5, 0.72), math.pi, False, "table"),),
})
BACKGROUND_KINDS = ("sky", "road", "indoor", "table", "pattern")  # every background a scene can get

WALL_COLOURS = ((225, 210, 180), (200, 215, 195), (180, 190, 205), (230, 200, 200), (200, 180, 160), (240, 235, 225))
FLOOR_COLOURS = ((150, 105, 65), (120, 85, 55), (170, 140, 100), (110, 110, 120), (140, 60, 50), (90, 100, 80))
TABLE_COLOURS = ((160, 110, 65), (130, 85, 50), (190, 150, 100), (230, 230, 225), (100, 70, 45))
CLOTH_COLOURS = ((200, 40, 40), (40, 80, 170), (40, 130, 70), (60, 60, 60))


def is_synthetic_dataset_id(dataset_id: str) -> bool:
    """True for the id of an embedded synthetic set (drawn objects, no photos)."""
    return dataset_id.startswith(SYNTHETIC_ID_PREFIX)


# ---------------------------------------------------------------- backgrounds (numpy, channels first, float 0..255)
# Backgrounds are smooth, so they are computed at the final image size and only
# enlarged (nearest neighbour) to the drawing canvas.


def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1]: x as (1, size), y as (size, 1)."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size  # (size,)
    return coords[None, :], coords[:, None]  # (1, size), (size, 1)


def _blend(colour_a, colour_b, weight: np.ndarray) -> np.ndarray:
    """Per-pixel mix of two colours: weight (H, W) in [0, 1] -> (3, H, W)."""
    a = np.asarray(colour_a, dtype=np.float32)[:, None, None]  # (3, 1, 1)
    b = np.asarray(colour_b, dtype=np.float32)[:, None, None]  # (3, 1, 1)
    return a + (b - a) * weight[None]  # (3, H, W)


def _sky(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _unit_grid(size)
    top = jitter_colour(pick(SKY_COLOURS, rng), rng, 15)
    horizon = shade(top, rng.uniform(1.15, 1.5))
    tilt = rng.uniform(-0.3, 0.3)
    return _blend(top, horizon, np.clip(y + tilt * (x - 0.5), 0.0, 1.0))  # (3, size, size)


def _road(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _unit_grid(size)
    horizon_y = rng.uniform(0.35, 0.6)
    if rng.random() < 0.5:
        upper = _sky(size, rng)  # (3, size, size)
    else:  # building facade
        facade = jitter_colour(pick(WALL_COLOURS + FLOOR_COLOURS, rng), rng, 15)
        upper = _blend(facade, shade(facade, 0.9), np.broadcast_to(x, (size, size)))  # (3, size, size)
    asphalt = jitter_colour((95, 95, 100), rng, 20)
    lower = _blend(shade(asphalt, 0.8), asphalt, np.broadcast_to(y, (size, size)))  # (3, size, size)
    return np.where(y > horizon_y, lower, upper)  # (3, size, size)


def _indoor(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _unit_grid(size)
    wall = jitter_colour(pick(WALL_COLOURS, rng), rng, 15)
    floor = jitter_colour(pick(FLOOR_COLOURS, rng), rng, 15)
    if rng.random() < 0.4:  # striped wallpaper
        period = rng.uniform(0.08, 0.2)
        stripes = (np.sin(2 * math.pi * x / period) > 0).astype(np.float32)  # (1, size)
    else:
        stripes = 0.3 * y  # (size, 1) plain wall, slightly shaded
    wall_pixels = _blend(wall, shade(wall, 0.85), np.broadcast_to(stripes, (size, size)))  # (3, size, size)
    floor_y = rng.uniform(0.6, 0.95)
    floor_pixels = _blend(shade(floor, 0.85), floor, np.broadcast_to(y, (size, size)))  # (3, size, size)
    return np.where(y > floor_y, floor_pixels, wall_pixels)  # (3, size, size)


def _table(size: int, rng: np.random.Generator) -> np.ndarray:
    x, y = _unit_grid(size)
    if rng.random() < 0.4:  # checkered tablecloth
        period = rng.uniform(0.12, 0.3)
        angle = rng.uniform(0.0, math.pi / 2)
        u = (x * math.cos(angle) + y * math.sin(angle)) / period  # (size, size)
        v = (-x * math.sin(angle) + y * math.cos(angle)) / period  # (size, size)
        checks = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)  # (size, size)
        return _blend(jitter_colour(pick(CLOTH_COLOURS, rng), rng, 15), (235, 235, 230), checks)  # (3, size, size)
    wood = jitter_colour(pick(TABLE_COLOURS, rng), rng, 12)
    grain_frequency = rng.uniform(8.0, 20.0)
    phase = rng.uniform(0.0, 2 * math.pi)
    grain = 0.5 + 0.5 * np.sin(grain_frequency * y * 2 * math.pi + 3.0 * np.sin(4.0 * x + phase))  # (size, size)
    return _blend(wood, shade(wood, 0.8), grain)  # (3, size, size)


def _pattern(size: int, rng: np.random.Generator) -> np.ndarray:
    """Generic backgrounds: linear gradient, stripes or blotchy low-frequency noise."""
    x, y = _unit_grid(size)
    colour_a = random_colour(rng)
    colour_b = random_colour(rng)
    kind = whole(rng, 0, 3)
    angle = rng.uniform(0.0, 2 * math.pi)
    along = x * math.cos(angle) + y * math.sin(angle)  # (size, size)
    if kind == 0:
        weight = (along - along.min()) / max(float(along.max() - along.min()), 1e-6)  # (size, size)
    elif kind == 1:
        period = rng.uniform(0.1, 0.35)
        weight = 0.5 + 0.5 * np.sin(2 * math.pi * along / period)  # (size, size)
    else:
        cells = whole(rng, 3, 7)
        coarse = rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)  # (cells, cells, 3)
        smooth = Image.fromarray(coarse, "RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(smooth, dtype=np.float32).transpose(2, 0, 1)  # (3, size, size)
    return _blend(colour_a, colour_b, weight.astype(np.float32))  # (3, size, size)


BACKGROUND_PAINTERS = MappingProxyType(  # read-only table: background kind -> painter
    {"sky": _sky, "road": _road, "indoor": _indoor, "table": _table, "pattern": _pattern})


def _decorate_background(canvas: Canvas, kind: str, rng: np.random.Generator) -> None:
    """Scene details drawn as shapes: clouds, lane markings, a picture frame."""
    half = canvas.size / 2
    frame = ObjectFrame(half, half, half, 0.0, False)  # local units: -1..1 across the canvas
    pen = FramedPen(canvas, frame, Layer.SCENE)
    if kind == "sky":
        for _ in range(whole(rng, 0, 4)):  # clouds: a few white blobs each
            cloud_x, cloud_y = rng.uniform(-1, 1), rng.uniform(-1, 1)
            cloud_colour = jitter_colour((240, 240, 245), rng, 10)
            for _ in range(3):
                pen.ellipse(cloud_x + rng.uniform(-0.2, 0.2), cloud_y + rng.uniform(-0.05, 0.05),
                            rng.uniform(0.12, 0.25), rng.uniform(0.06, 0.12), cloud_colour)
    elif kind == "road":
        lane_y = rng.uniform(0.4, 0.8)
        lane_colour = (240, 240, 240) if rng.random() < 0.6 else (240, 200, 50)
        start = rng.uniform(-1.2, -0.9)
        for dash in range(6):
            left = start + dash * 0.45
            pen.polygon(rectangle_points(left, lane_y, left + 0.25, lane_y + 0.04), lane_colour)
    elif kind == "indoor" and rng.random() < 0.4:  # a picture frame or window on the wall
        left, top = rng.uniform(-0.9, 0.3), rng.uniform(-0.95, -0.4)
        width, height = rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.45)
        pen.polygon(rectangle_points(left, top, left + width, top + height), jitter_colour((90, 70, 50), rng, 20))
        pen.polygon(rectangle_points(left + 0.04, top + 0.04, left + width - 0.04, top + height - 0.04),
                    jitter_colour(pick(SKY_COLOURS, rng), rng, 30))


# ---------------------------------------------------------------- clutter


def _random_shape(pen: FramedPen, rng: np.random.Generator, colour, layer: Layer) -> None:
    """One clutter shape around the pen's local origin, roughly 1 unit in radius."""
    kind = whole(rng, 0, 5)
    if kind == 0:
        pen.ellipse(0.0, 0.0, 1.0, rng.uniform(0.3, 1.0), colour, layer=layer)
    elif kind == 1:
        pen.polygon(rectangle_points(-1.0, -rng.uniform(0.2, 1.0), 1.0, rng.uniform(0.2, 1.0)), colour, layer)
    elif kind == 2:
        corners = ellipse_points(0.0, 0.0, 1.0, 1.0, rng.uniform(0, math.pi), 3)  # (3, 2) triangle
        pen.polygon(corners, colour, layer)
    elif kind == 3:
        pen.line(np.array([[-1.0, rng.uniform(-0.5, 0.5)], [1.0, rng.uniform(-0.5, 0.5)]]), colour, 0.15, layer)
    else:  # ring
        pen.ellipse(0.0, 0.0, 1.0, 1.0, colour, layer=layer)
        pen.ellipse(0.0, 0.0, 0.6, 0.6, shade(colour, rng.uniform(0.3, 1.6)), layer=layer)


def _clutter_colour(rng: np.random.Generator):
    """Clutter is any colour, sometimes a saturated accent colour."""
    if rng.random() < 0.3:
        return jitter_colour(pick(ACCENT_COLOURS, rng), rng, 30)
    return random_colour(rng)


def _draw_distractors(canvas: Canvas, count: int, rng: np.random.Generator) -> None:
    half = canvas.size / 2
    for _ in range(count):
        frame = ObjectFrame(half + half * rng.uniform(-1, 1), half + half * rng.uniform(-1, 1),
                            half * rng.uniform(0.06, 0.25), rng.uniform(0, 2 * math.pi), False)
        _random_shape(FramedPen(canvas, frame, Layer.SCENE), rng, _clutter_colour(rng), Layer.SCENE)


def _draw_occluder(canvas: Canvas, object_frame: ObjectFrame, rng: np.random.Generator) -> None:
    """A shape in front of the object that hides part of it (never the middle)."""
    direction = rng.uniform(0, 2 * math.pi)
    if rng.random() < 0.5:  # a bar (pole, branch, table edge) crossing one side of the object
        offset = object_frame.scale * rng.uniform(0.45, 0.8)
        bar_center_x = object_frame.center_x + offset * math.cos(direction)
        bar_center_y = object_frame.center_y + offset * math.sin(direction)
        frame = ObjectFrame(bar_center_x, bar_center_y, object_frame.scale, direction + math.pi / 2, False)
        thickness = rng.uniform(0.08, 0.2)
        FramedPen(canvas, frame, Layer.OCCLUDER).polygon(
            rectangle_points(-3.0, -thickness, 3.0, thickness), _clutter_colour(rng))
    else:  # a blob or shape overlapping the object's edge
        distance = object_frame.scale * rng.uniform(0.7, 1.05)
        frame = ObjectFrame(object_frame.center_x + distance * math.cos(direction),
                            object_frame.center_y + distance * math.sin(direction),
                            object_frame.scale * rng.uniform(0.3, 0.5), rng.uniform(0, 2 * math.pi), False)
        _random_shape(FramedPen(canvas, frame, Layer.OCCLUDER), rng, _clutter_colour(rng), Layer.OCCLUDER)


# ---------------------------------------------------------------- one image


def image_generator(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of one image, derived only from (seed, split, index)."""
    if split not in SPLIT_CODES:
        raise VitcoreError(f"split must be 'train' or 'val', got {split!r}.")
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def label_of_index(index: int) -> int:
    """Classes are interleaved (0, 1, 2, 3, 4, 0, ...) so a smaller set is a prefix of a larger one."""
    return index % len(SYNTHETIC_CLASS_NAMES)


def render_synthetic_image(seed: int, split: str, index: int, image_size: int = 64,
                           scene: SyntheticSceneConfig | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Draw one scene -> (image (S, S, 3) uint8, mask (S, S) bool, label)."""
    scene = scene or SyntheticSceneConfig()
    rng = image_generator(seed, split, index)
    label = label_of_index(index)
    styles = CLASS_STYLES[SYNTHETIC_CLASS_NAMES[label]]
    weights = np.array([style.weight for style in styles])
    style = styles[int(rng.choice(len(styles), p=weights / weights.sum()))] if len(styles) > 1 else styles[0]

    canvas_size = image_size * scene.supersample
    half = canvas_size / 2
    background_kind = style.background
    if rng.random() < scene.background_swap_probability:
        background_kind = pick(BACKGROUND_KINDS, rng)
    background = BACKGROUND_PAINTERS[background_kind](image_size, rng)  # (3, S, S) float
    background_image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8).transpose(1, 2, 0), "RGB")
    canvas = Canvas(background_image.resize((canvas_size, canvas_size), Image.NEAREST))
    _decorate_background(canvas, background_kind, rng)
    _draw_distractors(canvas, whole(rng, 0, scene.max_distractors + 1), rng)

    low, high = style.scale_range
    frame = ObjectFrame(
        center_x=half + half * rng.uniform(-scene.center_jitter, scene.center_jitter),
        center_y=half + half * rng.uniform(-scene.center_jitter, scene.center_jitter),
        scale=half * rng.uniform(low, high) * scene.scale_factor,
        angle=rng.uniform(-style.max_rotation, style.max_rotation),
        mirror=bool(style.may_mirror and rng.random() < 0.5),
    )
    style.painter(FramedPen(canvas, frame, Layer.OBJECT), rng)
    if rng.random() < scene.occluder_probability:
        _draw_occluder(canvas, frame, rng)
    image, mask = canvas.finish(scene.supersample)  # (S, S, 3) uint8, (S, S) bool

    return _photometric(image, rng, scene), mask, label


def _photometric(image: np.ndarray, rng: np.random.Generator, scene: SyntheticSceneConfig) -> np.ndarray:
    """Contrast, brightness and pixel noise: (S, S, 3) uint8 -> (S, S, 3) uint8."""
    contrast = rng.uniform(*scene.contrast_range)
    brightness = rng.uniform(*scene.brightness_range)
    pixels = image.astype(np.float32)  # (S, S, 3)
    mean = float(pixels.mean())
    # (p - mean) * contrast * brightness + mean * brightness, as one multiply and one add
    pixels *= contrast * brightness
    pixels += mean * brightness * (1.0 - contrast)
    # uniform noise from raw random bytes: the fastest source; std = range / sqrt(12)
    noise_std = 255.0 * rng.uniform(*scene.noise_std_range)
    noise_bytes = np.frombuffer(rng.bytes(pixels.size), dtype=np.uint8).reshape(pixels.shape)  # (S, S, 3)
    pixels += (noise_bytes.astype(np.float32) - 127.5) * (noise_std * math.sqrt(12.0) / 256.0)
    np.clip(pixels, 0.0, 255.0, out=pixels)
    return (pixels + 0.5).astype(np.uint8)  # (S, S, 3) rounded


# ---------------------------------------------------------------- whole dataset


def _render_range(seed: int, split: str, start: int, stop: int, image_size: int,
                  scene: SyntheticSceneConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images start..stop-1 of a split -> images (n, S, S, 3) uint8, masks (n, S, S) bool, labels (n,) int64."""
    count = stop - start
    images = np.empty((count, image_size, image_size, 3), dtype=np.uint8)  # (n, S, S, 3)
    masks = np.empty((count, image_size, image_size), dtype=bool)  # (n, S, S)
    labels = np.empty(count, dtype=np.int64)  # (n,)
    for offset in range(count):
        images[offset], masks[offset], labels[offset] = render_synthetic_image(
            seed, split, start + offset, image_size, scene)
    return images, masks, labels


def _render_split(split: str, count: int, image_size: int, seed: int, scene: SyntheticSceneConfig,
                  progress: Progress | None, done_before: int, total: int) -> ImageSplit:
    chunk = 250  # images per progress report
    parts = []
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        parts.append(_render_range(seed, split, start, stop, image_size, scene))
        if progress is not None:
            progress(done_before + stop, total, f"drawing synthetic {split} images")
    images = torch.from_numpy(np.concatenate([part[0] for part in parts]))  # (N, S, S, 3) uint8
    return ImageSplit(
        images=images.permute(0, 3, 1, 2).contiguous(),  # (N, 3, S, S) uint8
        labels=torch.from_numpy(np.concatenate([part[2] for part in parts])),  # (N,) int64
        names=[f"synthetic/{split}/{index:06d}" for index in range(count)],
        masks=torch.from_numpy(np.concatenate([part[1] for part in parts])),  # (N, S, S) bool
    )


def generate_synthetic(train_per_class: int = 1500, val_per_class: int = 500, image_size: int = 64, seed: int = 0,
                       progress: Progress | None = None,
                       scene: SyntheticSceneConfig | None = None) -> ClassificationData:
    """Render the embedded five-class dataset (with object masks) from `seed`.

    Same arguments -> identical tensors. Labels cycle through the classes, so each
    split holds exactly `*_per_class` images of every class. Image i of a split
    depends only on (seed, split, i), so a caller may also draw ranges of images in
    parallel with `render_synthetic_image` and get the same result.
    """
    for name, value, minimum in (("train_per_class", train_per_class, 1), ("val_per_class", val_per_class, 1),
                                 ("image_size", image_size, 16), ("seed", seed, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
            raise VitcoreError(f"{name} must be a whole number of at least {minimum}, got {value!r}.")
    scene = scene or SyntheticSceneConfig()
    class_count = len(SYNTHETIC_CLASS_NAMES)
    train_count, val_count = train_per_class * class_count, val_per_class * class_count
    total = train_count + val_count
    train = _render_split("train", train_count, image_size, seed, scene, progress, 0, total)
    val = _render_split("val", val_count, image_size, seed, scene, progress, train_count, total)
    dataset_id = f"{SYNTHETIC_ID_PREFIX}seed{seed}-{image_size}-{train_per_class}-{val_per_class}"
    if scene != SyntheticSceneConfig():
        dataset_id += f"-{scene.fingerprint()}"
    return ClassificationData(
        train=train,
        val=val,
        class_names=list(SYNTHETIC_CLASS_NAMES),
        dataset_id=dataset_id,
        source=f"embedded synthetic (seed {seed})",
    )


def write_synthetic_folder(data: ClassificationData, out_root: Path) -> Path:
    """Write the homework layout: out_root/{train,val}/<class>/<index>.png and out_root/masks_<split>.npz.

    PNG keeps the pixels exact. Each `masks_<split>.npz` holds `names` (file names
    relative to the split folder, e.g. "cat/train_000002.png", in dataset order) and
    `masks` ((N, S, S) bool), so a folder loader can pair masks with files.
    """
    out_root = Path(out_root)
    for split_name, split in (("train", data.train), ("val", data.val)):
        for class_name in data.class_names:
            (out_root / split_name / class_name).mkdir(parents=True, exist_ok=True)
        pixels = split.images.permute(0, 2, 3, 1).cpu().numpy()  # (N, S, S, 3) uint8
        file_names = []
        for index in range(len(split)):
            class_name = data.class_names[int(split.labels[index])]
            # The split is part of the file name so train and val never share a name (no false "leakage").
            file_name = f"{class_name}/{split_name}_{split.names[index].rsplit('/', 1)[-1]}.png"
            Image.fromarray(pixels[index], "RGB").save(out_root / split_name / file_name, compress_level=1)
            file_names.append(file_name)
        if split.masks is not None:
            np.savez_compressed(out_root / f"masks_{split_name}.npz", names=np.array(file_names),
                                masks=split.masks.cpu().numpy())
    return out_root

