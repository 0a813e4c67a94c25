"""Drawing helpers for the embedded synthetic dataset: a canvas and the five objects.

Every object is described in its own *local* coordinates: x to the right,
y downwards (like image rows), one unit = the object's "radius". An
`ObjectFrame` places those local coordinates on the canvas (position, scale,
rotation, mirror). Shapes are polygons drawn with PIL on a canvas that is
`supersample` times larger than the final image; shrinking it afterwards gives
smooth (anti-aliased) edges.

A `Canvas` draws each shape into the RGB image and, for the outline parts of
the main object (`Layer.OBJECT`), also `True` into a mask. Details inside the
outline (eyes, windows: `Layer.DETAIL`) need no mask drawing. Occluders drawn in
front of the object clear the mask again, so the mask marks exactly the visible
part of the object.
"""

import enum
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

Colour = tuple[int, int, int]


class Layer(enum.Enum):
    """What a shape is in the scene, which decides how it touches the object mask."""

    SCENE = "scene"  # background or clutter: colour only, mask untouched
    OBJECT = "object"  # part of the main object's outline: colour, and mask set to True
    DETAIL = "detail"  # part of the object that lies inside its outline (eyes, windows): colour only
    OCCLUDER = "occluder"  # in front of the object: colour, and mask cleared to False


DETAIL = Layer.DETAIL  # short name used by the painters below


@dataclass(frozen=True)
class ObjectFrame:
    """Where an object's local coordinates land on the canvas."""

    center_x: float  # canvas pixel column of the local origin
    center_y: float  # canvas pixel row of the local origin
    scale: float  # canvas pixels per local unit
    angle: float  # rotation in radians (positive turns clockwise on screen, since y points down)
    mirror: bool  # True flips the object left-right before rotating it
    linear: tuple[float, float, float, float] = field(init=False, repr=False, compare=False)  # derived, see below
    linear_t: np.ndarray = field(init=False, repr=False, compare=False)  # (2, 2) the same matrix, transposed

    def __post_init__(self) -> None:
        # The 2x2 matrix (a, b, c, d) = scale * rotation * mirror, row-major, computed once per frame.
        cos_a, sin_a = math.cos(self.angle) * self.scale, math.sin(self.angle) * self.scale
        flip = -1.0 if self.mirror else 1.0
        a, b, c, d = cos_a * flip, -sin_a, sin_a * flip, cos_a
        object.__setattr__(self, "linear", (a, b, c, d))
        object.__setattr__(self, "linear_t", np.array([[a, c], [b, d]]))  # rows of points multiply on the left

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Local (K, 2) points -> canvas pixel (K, 2) points."""
        return points @ self.linear_t + (self.center_x, self.center_y)  # (K, 2)

    def apply_ellipse(self, center_x: float, center_y: float, radius_x: float, radius_y: float,
                      angle: float, count: int) -> list[float]:
        """Canvas outline of a local ellipse as a flat [x0, y0, x1, y1, ...] list of `count` points.

        Plain Python floats: for a few dozen points this is faster than numpy's per-call overhead.
        """
        a, b, c, d = self.linear
        cos_e, sin_e = math.cos(angle), math.sin(angle)
        # local ellipse matrix: rotation(angle) @ diag(radius_x, radius_y), then the frame's matrix on top
        e11, e12, e21, e22 = cos_e * radius_x, -sin_e * radius_y, sin_e * radius_x, cos_e * radius_y
        m11, m12 = a * e11 + b * e21, a * e12 + b * e22
        m21, m22 = c * e11 + d * e21, c * e12 + d * e22
        offset_x = self.center_x + a * center_x + b * center_y
        offset_y = self.center_y + c * center_x + d * center_y
        outline = []
        for cos_t, sin_t in unit_circle_pairs(count):
            outline.append(offset_x + m11 * cos_t + m12 * sin_t)
            outline.append(offset_y + m21 * cos_t + m22 * sin_t)
        return outline


# ---------------------------------------------------------------- local geometry

_UNIT_CIRCLES = tuple(  # read-only outlines of the unit circle with 0..48 points, built once
    np.stack([np.cos(np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)),
              np.sin(np.linspace(0.0, 2.0 * math.pi, count, endpoint=False))], axis=1)
    for count in range(49)
)
for _outline in _UNIT_CIRCLES:
    _outline.flags.writeable = False


_UNIT_CIRCLE_PAIRS = tuple(tuple(map(tuple, outline.tolist())) for outline in _UNIT_CIRCLES)  # same, as floats


def unit_circle_pairs(count: int) -> tuple[tuple[float, float], ...]:
    """Points of the unit circle as a tuple of (cos, sin) Python float pairs."""
    if count < len(_UNIT_CIRCLE_PAIRS):
        return _UNIT_CIRCLE_PAIRS[count]
    return tuple(map(tuple, unit_circle(count).tolist()))


def unit_circle(count: int) -> np.ndarray:
    """Points of the unit circle as a (count, 2) read-only array."""
    if count < len(_UNIT_CIRCLES):
        return _UNIT_CIRCLES[count]
    theta = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)  # (count,)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)  # (count, 2)


def ellipse_points(center_x: float, center_y: float, radius_x: float, radius_y: float,
                   angle: float = 0.0, count: int = 32) -> np.ndarray:
    """Outline of a (rotated) ellipse in local coordinates as a (count, 2) polygon."""
    circle = unit_circle(count)  # (count, 2)
    x = radius_x * circle[:, 0]  # (count,)
    y = radius_y * circle[:, 1]  # (count,)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    return np.stack([center_x + cos_a * x - sin_a * y, center_y + sin_a * x + cos_a * y], axis=1)  # (count, 2)


def rectangle_points(left: float, top: float, right: float, bottom: float) -> np.ndarray:
    """Axis-aligned rectangle (in local coordinates) as a (4, 2) polygon."""
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float64)  # (4, 2)


def rounded_rectangle_points(left: float, top: float, right: float, bottom: float,
                             radius: float, corner_steps: int = 5) -> np.ndarray:
    """Rectangle with rounded corners as a (4 * corner_steps, 2) polygon."""
    radius = min(radius, (right - left) / 2, (bottom - top) / 2)
    corners = [  # (corner centre x, corner centre y, start angle)
        (right - radius, top + radius, -math.pi / 2),
        (right - radius, bottom - radius, 0.0),
        (left + radius, bottom - radius, math.pi / 2),
        (left + radius, top + radius, math.pi),
    ]
    points = []
    for corner_x, corner_y, start in corners:
        theta = start + np.linspace(0.0, math.pi / 2, corner_steps)  # (corner_steps,)
        points.append(np.stack([corner_x + radius * np.cos(theta), corner_y + radius * np.sin(theta)], axis=1))
    return np.concatenate(points, axis=0)  # (4 * corner_steps, 2)


def mirrored_x(points: np.ndarray) -> np.ndarray:
    """The same (K, 2) polygon reflected across the local vertical axis (left ear -> right ear)."""
    return points * np.array([-1.0, 1.0])  # (K, 2)


# ---------------------------------------------------------------- colours


def whole(rng: np.random.Generator, low: int, high: int) -> int:
    """A whole number in [low, high) (same as rng.integers, several times faster for one scalar)."""
    return low + int(rng.random() * (high - low))


def pick(options: tuple, rng: np.random.Generator):
    """One element of a tuple, chosen with the generator."""
    return options[whole(rng, 0, len(options))]


def random_colour(rng: np.random.Generator) -> Colour:
    """Any colour, uniformly."""
    red, green, blue = rng.random(3) * 256.0
    return int(red), int(green), int(blue)


def jitter_colour(colour: Colour, rng: np.random.Generator, amount: float = 20.0) -> Colour:
    """The colour with each channel moved by up to +-amount, clipped to 0..255."""
    shifts = (rng.random(3) * 2.0 - 1.0) * amount  # (3,)
    return tuple(min(255, max(0, int(channel + shift))) for channel, shift in zip(colour, shifts.tolist()))


def shade(colour: Colour, factor: float) -> Colour:
    """Darker (factor < 1) or lighter (factor > 1) version of a colour."""
    return tuple(int(min(255.0, max(0.0, channel * factor))) for channel in colour)


SKY_COLOURS: tuple[Colour, ...] = ((90, 150, 220), (120, 175, 235), (60, 110, 190), (150, 190, 230), (235, 160, 120),
                                   (170, 170, 185))
FUSELAGE_COLOURS: tuple[Colour, ...] = ((235, 235, 240), (200, 205, 215), (170, 175, 185), (225, 225, 210),
                                        (150, 190, 225), (90, 95, 110))
ACCENT_COLOURS: tuple[Colour, ...] = ((200, 40, 40), (40, 70, 170), (30, 140, 80), (240, 190, 40), (230, 110, 30),
                                      (120, 50, 140))
BUS_COLOURS: tuple[Colour, ...] = ((240, 190, 30), (210, 45, 40), (40, 90, 180), (40, 150, 80), (235, 235, 230),
                                   (240, 130, 30), (110, 110, 120))
GLASS_COLOURS: tuple[Colour, ...] = ((60, 80, 110), (120, 160, 200), (40, 45, 60), (150, 190, 210))
# Cats and dogs share one fur palette: colour alone must not tell them apart.
FUR_COLOURS: tuple[Colour, ...] = ((215, 135, 55), (135, 135, 140), (45, 42, 40), (235, 228, 215), (125, 85, 50),
                                   (225, 200, 160), (190, 150, 100), (90, 70, 60))
CAT_EYE_COLOURS: tuple[Colour, ...] = ((120, 190, 60), (220, 190, 40), (200, 140, 40), (110, 170, 220), (90, 60, 30))
DOG_EYE_COLOURS: tuple[Colour, ...] = ((60, 35, 20), (30, 25, 20), (100, 65, 30), (120, 170, 210))
CRUST_COLOURS: tuple[Colour, ...] = ((200, 140, 60), (180, 115, 45), (215, 165, 85), (160, 95, 40))
CHEESE_COLOURS: tuple[Colour, ...] = ((250, 215, 100), (245, 200, 80), (250, 230, 150), (235, 180, 70))
SAUCE_COLOURS: tuple[Colour, ...] = ((200, 50, 30), (180, 40, 30), (215, 80, 40))


# ---------------------------------------------------------------- canvas


class Canvas:
    """An RGB image plus the object mask, both at the supersampled drawing size."""

    def __init__(self, background: Image.Image):
        """`background` is a C x C RGB image (drawn on in place); the canvas is C x C pixels."""
        self.size = int(background.size[0])  # canvas side in pixels (supersampled)
        self.image = background  # colour layer
        self.mask = Image.new("L", (self.size, self.size), 0)  # 255 where the main object is visible
        self._draw_image = ImageDraw.Draw(self.image)
        self._draw_mask = ImageDraw.Draw(self.mask)

    @staticmethod
    def _mark_mask(layer: Layer) -> int | None:
        if layer is Layer.OBJECT:
            return 255
        if layer is Layer.OCCLUDER:
            return 0
        return None

    def polygon(self, points: np.ndarray | list[float], colour: Colour, layer: Layer) -> None:
        """Fill a canvas-pixel polygon: a (K, 2) array or a flat [x0, y0, x1, y1, ...] list."""
        flat = points if isinstance(points, list) else points.ravel().tolist()
        self._draw_image.polygon(flat, fill=colour)
        mask_value = self._mark_mask(layer)
        if mask_value is not None:
            self._draw_mask.polygon(flat, fill=mask_value)

    def line(self, points: np.ndarray, colour: Colour, width: float, layer: Layer) -> None:
        """Draw a canvas-pixel (K, 2) polyline `width` canvas pixels wide."""
        flat = points.ravel().tolist()
        width_px = max(1, int(round(width)))
        self._draw_image.line(flat, fill=colour, width=width_px, joint="curve")
        mask_value = self._mark_mask(layer)
        if mask_value is not None:
            self._draw_mask.line(flat, fill=mask_value, width=width_px)

    def finish(self, supersample: int) -> tuple[np.ndarray, np.ndarray]:
        """Shrink by `supersample` (box filter): -> (S, S, 3) uint8 image, (S, S) bool mask."""
        image = self.image.reduce(supersample) if supersample > 1 else self.image
        mask = self.mask.reduce(supersample) if supersample > 1 else self.mask
        return np.asarray(image), np.asarray(mask) >= 128  # (S, S, 3), (S, S)


class FramedPen:
    """Draws local-coordinate shapes of one object through its ObjectFrame."""

    def __init__(self, canvas: Canvas, frame: ObjectFrame, layer: Layer = Layer.OBJECT):
        self.canvas = canvas  # where to draw
        self.frame = frame  # local -> canvas placement
        self.layer = layer  # how the shapes touch the mask

    def polygon(self, local_points: np.ndarray, colour: Colour, layer: Layer | None = None) -> None:
        self.canvas.polygon(self.frame.apply(local_points), colour, layer or self.layer)

    def ellipse(self, center_x: float, center_y: float, radius_x: float, radius_y: float, colour: Colour,
                angle: float = 0.0, layer: Layer | None = None) -> None:
        # more outline points for bigger ellipses keeps them round without wasting time on tiny ones
        radius_px = max(radius_x, radius_y) * self.frame.scale
        count = int(min(40, max(10, radius_px * 0.9)))
        outline = self.frame.apply_ellipse(center_x, center_y, radius_x, radius_y, angle, count)  # 2 * count floats
        self.canvas.polygon(outline, colour, layer or self.layer)

    def line(self, local_points: np.ndarray, colour: Colour, width: float, layer: Layer | None = None) -> None:
        """`width` is in local units; at least one canvas pixel."""
        self.canvas.line(self.frame.apply(local_points), colour, width * self.frame.scale, layer or self.layer)


# ---------------------------------------------------------------- the five objects
# Each painter draws one object centred on its local origin, about 1 unit in radius.


def draw_airplane_top(pen: FramedPen, rng: np.random.Generator) -> None:
    """Airplane seen from above: fuselage, swept wings, engines, tailplane. Nose towards +x."""
    body = jitter_colour(pick(FUSELAGE_COLOURS, rng), rng, 15)
    wing = shade(body, rng.uniform(0.75, 0.95))
    accent = jitter_colour(pick(ACCENT_COLOURS, rng), rng, 20)
    span = rng.uniform(0.8, 1.0)
    sweep = rng.uniform(0.15, 0.45)
    chord = rng.uniform(0.22, 0.35)
    root_x = rng.uniform(0.05, 0.3)
    flip_y = np.array([1.0, -1.0])
    left_wing = np.array([[root_x, -0.08], [root_x - sweep, -span], [root_x - sweep - chord * 0.6, -span],
                          [root_x - chord, -0.08]])
    pen.polygon(left_wing, wing)
    pen.polygon(left_wing * flip_y, wing)
    tail_span = rng.uniform(0.3, 0.42)
    left_tail = np.array([[-0.7, -0.05], [-0.88, -tail_span], [-0.98, -tail_span], [-0.95, -0.05]])
    pen.polygon(left_tail, accent)
    pen.polygon(left_tail * flip_y, accent)
    if rng.random() < 0.7:  # engines under the wings
        engine_y = span * rng.uniform(0.35, 0.55)
        for side in (-1.0, 1.0):
            pen.ellipse(root_x - sweep * engine_y / span + 0.05, side * engine_y, 0.14, 0.06, shade(body, 0.6))
    body_width = rng.uniform(0.11, 0.16)
    pen.ellipse(0.0, 0.0, 1.0, body_width, body)
    pen.line(np.array([[-0.62, 0.0], [-0.98, 0.0]]), accent, 0.07, DETAIL)  # fin seen from above
    pen.ellipse(0.8, 0.0, 0.07, body_width * 0.55, (40, 50, 70), layer=DETAIL)  # cockpit


def draw_airplane_side(pen: FramedPen, rng: np.random.Generator) -> None:
    """Airplane seen from the side: fuselage with a window row, wing, tail fin. Nose towards +x."""
    body = jitter_colour(pick(FUSELAGE_COLOURS, rng), rng, 15)
    wing = shade(body, rng.uniform(0.7, 0.9))
    accent = jitter_colour(pick(ACCENT_COLOURS, rng), rng, 20)
    body_height = rng.uniform(0.15, 0.2)
    fin_height = rng.uniform(0.5, 0.65)
    fin = np.array([[-0.6, -body_height * 0.6], [-0.9, -fin_height], [-1.02, -fin_height],
                    [-0.97, -body_height * 0.3]])
    pen.polygon(fin, accent)
    pen.polygon(np.array([[0.2, 0.02], [-0.35, 0.38], [-0.52, 0.38], [-0.15, 0.02]]), wing)  # near wing
    pen.ellipse(0.0, 0.0, 1.0, body_height, body)
    pen.polygon(np.array([[-0.75, 0.0], [-1.0, 0.12], [-1.05, 0.08], [-0.9, -0.02]]), wing)  # tailplane
    window_count = whole(rng, 6, 11)
    for window_x in np.linspace(-0.6, 0.55, window_count):
        pen.ellipse(window_x, -body_height * 0.25, 0.035, 0.035, (45, 55, 75), layer=DETAIL)
    pen.ellipse(0.86, -body_height * 0.35, 0.08, 0.05, (40, 50, 70), layer=DETAIL)  # cockpit
    pen.line(np.array([[-0.9, body_height * 0.4], [0.85, body_height * 0.4]]), accent, 0.04, DETAIL)  # livery stripe
    if rng.random() < 0.6:
        pen.ellipse(-0.05, 0.22, 0.16, 0.07, shade(body, 0.6))  # engine under the wing


def draw_bus(pen: FramedPen, rng: np.random.Generator) -> None:
    """Bus from the side: long box, one or two rows of windows, door, two wheels. Front towards +x."""
    body = jitter_colour(pick(BUS_COLOURS, rng), rng, 18)
    glass = jitter_colour(pick(GLASS_COLOURS, rng), rng, 12)
    double_decker = rng.random() < 0.25
    top = -rng.uniform(0.55, 0.7) if double_decker else -rng.uniform(0.35, 0.5)
    bottom = rng.uniform(0.25, 0.32)
    wheel_radius = rng.uniform(0.14, 0.19)
    # wheels first (black) so the body skirt overlaps their top
    wheel_xs = (-0.62 + rng.uniform(-0.05, 0.05), 0.6 + rng.uniform(-0.05, 0.05))
    for wheel_x in wheel_xs:
        pen.ellipse(wheel_x, bottom, wheel_radius, wheel_radius, (25, 25, 28))
    pen.polygon(rounded_rectangle_points(-1.0, top, 1.0, bottom, rng.uniform(0.05, 0.12)), body)
    pen.polygon(rectangle_points(-1.0, bottom - 0.08, 1.0, bottom - 0.02), shade(body, 0.7), DETAIL)  # skirt stripe
    for wheel_x in wheel_xs:  # wheel arches cut into the body, tyre and hub drawn over
        pen.ellipse(wheel_x, bottom, wheel_radius * 1.1, wheel_radius * 1.1, (20, 20, 22))
        pen.ellipse(wheel_x, bottom, wheel_radius, wheel_radius, (35, 35, 38), layer=DETAIL)
        pen.ellipse(wheel_x, bottom, wheel_radius * 0.45, wheel_radius * 0.45, (170, 170, 175), layer=DETAIL)
    rows = 2 if double_decker else 1
    row_height = (-top - 0.05) / (rows + 0.9)
    window_count = whole(rng, 4, 8)
    window_gap = rng.uniform(0.04, 0.08)
    pitch = 1.6 / window_count
    for row in range(rows):
        row_top = top + 0.07 + row * (row_height + 0.06)
        for window in range(window_count):
            left = -0.94 + window * pitch
            pen.polygon(rectangle_points(left, row_top, left + pitch - window_gap, row_top + row_height), glass, DETAIL)
    pen.polygon(rectangle_points(0.72, top + 0.07, 0.86, bottom - 0.1), shade(glass, 0.8), DETAIL)  # door
    pen.polygon(rectangle_points(0.9, top + 0.07, 0.99, top + 0.07 + row_height * 1.3), glass, DETAIL)  # windscreen
    pen.ellipse(0.96, bottom - 0.16, 0.035, 0.035, (250, 240, 170), layer=DETAIL)  # headlight
    if rng.random() < 0.5:
        pen.line(np.array([[-0.98, top + 0.07 + rows * (row_height + 0.06)],
                           [0.7, top + 0.07 + rows * (row_height + 0.06)]]), shade(body, 0.6), 0.04, DETAIL)


def _cat_dog_fur(rng: np.random.Generator) -> tuple[Colour, Colour]:
    """Main fur colour and a lighter/darker secondary fur colour, same for cats and dogs."""
    fur = jitter_colour(pick(FUR_COLOURS, rng), rng, 18)
    secondary = shade(fur, rng.uniform(1.15, 1.4)) if rng.random() < 0.5 else shade(fur, rng.uniform(0.6, 0.8))
    return fur, secondary


def draw_cat(pen: FramedPen, rng: np.random.Generator) -> None:
    """Cat face: round head, pointy triangular ears, almond eyes with slit pupils, pink nose, whiskers."""
    fur, secondary = _cat_dog_fur(rng)
    head_rx, head_ry = rng.uniform(0.85, 0.98), rng.uniform(0.72, 0.85)
    ear_height = rng.uniform(0.95, 1.2)
    ear_tip_x = rng.uniform(0.55, 0.8)
    left_ear = np.array([[-0.88, -0.25], [-ear_tip_x, -ear_height], [-0.22, -0.62]])
    inner_ear = np.array([[-0.76, -0.38], [-ear_tip_x + 0.02, -ear_height + 0.17], [-0.35, -0.6]])
    ear_colour = fur if rng.random() < 0.6 else secondary
    for polygon in (left_ear, mirrored_x(left_ear)):
        pen.polygon(polygon, ear_colour)
    inner_colour = jitter_colour((230, 160, 160), rng, 20) if rng.random() < 0.6 else shade(ear_colour, 0.7)
    for polygon in (inner_ear, mirrored_x(inner_ear)):
        pen.polygon(polygon, inner_colour, DETAIL)
    pen.ellipse(0.0, 0.0, head_rx, head_ry, fur)
    if rng.random() < 0.4:  # tabby stripes on the forehead
        for stripe_x in (-0.18, 0.0, 0.18):
            stripe = np.array([[stripe_x, -head_ry * 0.9], [stripe_x * 0.8, -head_ry * 0.5]])  # (2, 2)
            pen.line(stripe, shade(fur, 0.6), 0.06, DETAIL)
    if rng.random() < 0.6:  # light muzzle puffs
        for side in (-1.0, 1.0):
            pen.ellipse(side * 0.13, 0.32, 0.17, 0.13, secondary, layer=DETAIL)
    eye_colour = jitter_colour(pick(CAT_EYE_COLOURS, rng), rng, 15)
    eye_y = rng.uniform(-0.15, 0.0)
    slit = rng.random() < 0.75
    for side in (-1.0, 1.0):
        pen.ellipse(side * 0.36, eye_y, 0.17, 0.12, eye_colour, angle=side * -0.25, layer=DETAIL)
        if slit:
            pen.ellipse(side * 0.36, eye_y, 0.035, 0.11, (15, 15, 15), layer=DETAIL)
        else:
            pen.ellipse(side * 0.36, eye_y, 0.08, 0.08, (15, 15, 15), layer=DETAIL)
    nose = jitter_colour((225, 130, 140), rng, 20) if rng.random() < 0.7 else (50, 40, 40)
    pen.polygon(np.array([[-0.09, 0.16], [0.09, 0.16], [0.0, 0.27]]), nose, DETAIL)
    mouth = shade(fur, 0.45)
    pen.line(np.array([[-0.12, 0.42], [0.0, 0.34], [0.12, 0.42]]), mouth, 0.035, DETAIL)
    whisker = (235, 235, 235) if sum(fur) < 450 else (60, 55, 50)
    if rng.random() < 0.9:
        spread = rng.uniform(0.08, 0.15)
        for side in (-1.0, 1.0):
            for offset in (-1.0, 0.0, 1.0):
                pen.line(np.array([[side * 0.22, 0.3], [side * 1.15, 0.3 + offset * spread + 0.05]]), whisker, 0.025)


def draw_dog(pen: FramedPen, rng: np.random.Generator) -> None:
    """Dog face: head, floppy (or rounded upright) ears, light snout, big black nose, round dark eyes."""
    fur, secondary = _cat_dog_fur(rng)
    head_rx, head_ry = rng.uniform(0.75, 0.9), rng.uniform(0.8, 0.95)
    ear_colour = shade(fur, rng.uniform(0.55, 0.85)) if rng.random() < 0.6 else secondary
    floppy = rng.random() < 0.7
    if not floppy:  # upright ears, wider than a cat's and rounded at the tip
        for side in (-1.0, 1.0):
            ear = np.array([[side * 0.85, -0.2], [side * 0.7, -0.95], [side * 0.5, -1.0], [side * 0.2, -0.6]])
            pen.polygon(ear, ear_colour)
            pen.ellipse(side * 0.6, -0.95, 0.12, 0.1, ear_colour)
    pen.ellipse(0.0, 0.0, head_rx, head_ry, fur)
    if floppy:  # long ears hanging down the sides, drawn over the head
        ear_length = rng.uniform(0.5, 0.7)
        for side in (-1.0, 1.0):
            pen.ellipse(side * head_rx * 0.92, 0.05, 0.24, ear_length, ear_colour, angle=side * rng.uniform(0.1, 0.4))
    snout_colour = secondary if rng.random() < 0.7 else fur
    pen.ellipse(0.0, 0.42, rng.uniform(0.32, 0.42), rng.uniform(0.25, 0.32), snout_colour, layer=DETAIL)
    eye_colour = jitter_colour(pick(DOG_EYE_COLOURS, rng), rng, 10)
    eye_y = rng.uniform(-0.2, -0.05)
    for side in (-1.0, 1.0):
        pen.ellipse(side * 0.32, eye_y, 0.1, 0.1, eye_colour, layer=DETAIL)
        pen.ellipse(side * 0.32 + 0.03, eye_y - 0.03, 0.03, 0.03, (240, 240, 240), layer=DETAIL)
        if rng.random() < 0.3:  # eyebrow spots
            pen.ellipse(side * 0.3, eye_y - 0.2, 0.08, 0.05, shade(fur, 0.6), layer=DETAIL)
    pen.ellipse(0.0, 0.3, rng.uniform(0.12, 0.17), rng.uniform(0.09, 0.12), (25, 22, 22), layer=DETAIL)  # nose
    mouth = (40, 30, 30)
    pen.line(np.array([[0.0, 0.38], [0.0, 0.52]]), mouth, 0.03, DETAIL)
    pen.line(np.array([[-0.18, 0.56], [0.0, 0.52], [0.18, 0.56]]), mouth, 0.03, DETAIL)
    if rng.random() < 0.35:  # tongue out
        pen.ellipse(0.0, 0.67, 0.11, 0.13, jitter_colour((225, 100, 120), rng, 15))


def draw_pizza(pen: FramedPen, rng: np.random.Generator) -> None:
    """Pizza from above: crust ring, sauce and cheese, topping dots, slice lines."""
    crust = jitter_colour(pick(CRUST_COLOURS, rng), rng, 12)
    sauce = jitter_colour(pick(SAUCE_COLOURS, rng), rng, 12)
    cheese = jitter_colour(pick(CHEESE_COLOURS, rng), rng, 12)
    pen.ellipse(0.0, 0.0, 1.0, 1.0, crust)
    pen.ellipse(0.0, 0.0, 0.86, 0.86, sauce, layer=DETAIL)
    pen.ellipse(0.0, 0.0, rng.uniform(0.74, 0.82), rng.uniform(0.74, 0.82), cheese, layer=DETAIL)
    topping_kind = whole(rng, 0, 3)
    topping_count = whole(rng, 5, 11)
    radii = 0.68 * np.sqrt(rng.random(topping_count))
    angles = rng.uniform(0.0, 2.0 * math.pi, topping_count)
    for radius, angle in zip(radii, angles):
        x, y = radius * math.cos(angle), radius * math.sin(angle)
        if topping_kind == 0:  # pepperoni
            size = rng.uniform(0.1, 0.15)
            pen.ellipse(x, y, size, size, jitter_colour((165, 40, 35), rng, 15), layer=DETAIL)
        elif topping_kind == 1:  # olives: dark rings
            pen.ellipse(x, y, 0.08, 0.08, (30, 30, 30), layer=DETAIL)
            pen.ellipse(x, y, 0.035, 0.035, cheese, layer=DETAIL)
        else:  # green pepper / basil bits
            leaf_colour = jitter_colour((60, 140, 50), rng, 20)
            pen.ellipse(x, y, 0.1, 0.05, leaf_colour, angle=rng.uniform(0, math.pi), layer=DETAIL)
    slice_count = whole(rng, 3, 5)
    offset = rng.uniform(0.0, math.pi)
    cut = shade(cheese, 0.55)
    for index in range(slice_count):
        angle = offset + index * math.pi / slice_count
        direction = np.array([math.cos(angle), math.sin(angle)])
        pen.line(np.stack([-0.9 * direction, 0.9 * direction]), cut, 0.03, DETAIL)


