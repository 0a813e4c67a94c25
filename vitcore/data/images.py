"""Turn untrusted image bytes or files into clean RGB pictures and uint8 tensors.

Everything a student might upload goes through `decode_image`: it accepts
bytes or a path, refuses what cannot (or should not) be decoded with ONE kind
of error (`ImageInputError`, one clear sentence), and otherwise returns an RGB
`PIL.Image` with the camera's EXIF orientation already applied.

What it takes care of:
- empty input, non-image bytes, missing paths, truncated files (the pixels are
  fully decoded with `img.load()` so a cut-off JPEG cannot slip through);
- decompression bombs: the pixel count in the header is checked against
  `max_pixels` BEFORE any pixel is decoded (PIL's global limit is left alone);
- animations (GIF/WebP/APNG with several frames) are refused;
- every colour mode: 1, L, LA, P (with transparency), RGBA (composited on
  white), CMYK, YCbCr, and 16/32-bit greyscale (I;16, I, F) which is scaled
  down to 8 bits instead of being clipped to white.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vitcore.errors import ImageInputError

# Modes that carry transparency once converted to RGBA; they are composited on white.
_MODES_WITH_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")
# Single-channel modes with more than 8 bits per pixel.
_HIGH_BIT_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def _read_source_bytes(source: bytes | bytearray | memoryview | str | Path) -> tuple[bytes, str]:
    """Return (raw bytes, short label for messages); paths are read from disk."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = "the uploaded image"
    elif isinstance(source, (str, Path)):
        path = Path(source)
        label = f"the image {path.name!r}"
        if not path.exists():
            raise ImageInputError(f"The image file {str(path)!r} does not exist.")
        if not path.is_file():
            raise ImageInputError(f"{str(path)!r} is not a file, so it cannot be read as an image.")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ImageInputError(f"The image file {str(path)!r} could not be read ({error.strerror}).") from error
    else:
        raise ImageInputError(f"An image must be given as bytes or a file path, not {type(source).__name__}.")
    if len(data) == 0:
        raise ImageInputError(f"Cannot decode {label}: the file is empty.")
    return data, label


def _high_bit_depth_to_uint8(img: Image.Image) -> Image.Image:
    """Scale a 16/32-bit or float greyscale image to 8-bit "L" (no clipping to white)."""
    pixels = np.asarray(img)
    if img.mode.startswith("I;16"):
        full_scale = 65535.0  # 16-bit PNG/TIFF: the full range is 0..65535
    elif img.mode == "F":
        full_scale = 1.0 if pixels.size == 0 or float(pixels.max()) <= 1.0 else float(pixels.max())
    else:  # mode "I" (32-bit int); 16-bit files often decode to it
        peak = float(pixels.max()) if pixels.size else 0.0
        full_scale = 255.0 if peak <= 255 else (65535.0 if peak <= 65535 else peak)
    scaled = np.clip(pixels.astype(np.float64) * (255.0 / full_scale), 0.0, 255.0)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels become white."""
    if img.mode == "RGB":
        return img
    if img.mode in _HIGH_BIT_DEPTH_MODES:
        return _high_bit_depth_to_uint8(img).convert("RGB")
    has_alpha = img.mode in _MODES_WITH_ALPHA or (img.mode in ("P", "L", "RGB") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV


def decode_image(
    source: bytes | str | Path,
    max_pixels: int = 40_000_000,
    draft_size: int | None = None,
    draft_long_side: int | None = None,
) -> Image.Image:
    """Decode bytes or a file into an RGB image with EXIF orientation applied.

    `draft_size`: optional speed hint for JPEGs that will be shrunk to about
    draft_size x draft_size anyway (lets libjpeg decode at 1/2, 1/4 or 1/8 scale).
    `draft_long_side`: the same for JPEGs that keep their aspect ratio and will be shown at most this many
    pixels on their long side: decoded at the smallest of those scales whose long side is still at least that.
    Raises only `ImageInputError`.
    """
    data, label = _read_source_bytes(source)
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width * height > max_pixels:
            raise ImageInputError(
                f"Cannot decode {label}: {width}x{height} pixels is more than the limit of {max_pixels:,} "
                "(possible decompression bomb)."
            )
        if getattr(img, "n_frames", 1) > 1:
            raise ImageInputError("Animated images are not supported; upload a still frame.")
        if draft_size is not None and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        elif draft_long_side is not None and img.format == "JPEG" and max(width, height) > draft_long_side:
            scale = draft_long_side / max(width, height)
            img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))  # keeps the colour mode
        img.load()  # full decode: truncated files fail here, not later
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    except ImageInputError:
        raise
    except UnidentifiedImageError as error:
        raise ImageInputError(f"Cannot decode {label}: the data is not a recognised image format.") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(f"Cannot decode {label}: it is too large (possible decompression bomb).") from error
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError, struct.error) as error:
        raise ImageInputError(f"Cannot decode {label}: the file is damaged or truncated ({error}).") from error
    except MemoryError as error:
        raise ImageInputError(f"Cannot decode {label}: it needs more memory than is available.") from error


def image_to_uint8_tensor(img: Image.Image, size: int) -> torch.Tensor:
    """Resize to size x size (bilinear, antialiased) and return (3, size, size) uint8."""
    rgb = _to_rgb(img)
    if rgb.size != (size, size):
        # PIL's bilinear filter widens its support when shrinking, i.e. it antialiases.
        rgb = rgb.resize((size, size), resample=Image.Resampling.BILINEAR)
    pixels = np.asarray(rgb, dtype=np.uint8)  # (S, S, 3)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()  # (3, S, S)


def load_image_file(path: str | Path, size: int, max_pixels: int = 40_000_000) -> torch.Tensor:
    """Decode one file and return it as a (3, size, size) uint8 tensor."""
    img = decode_image(path, max_pixels=max_pixels, draft_size=size)
    return image_to_uint8_tensor(img, size)  # (3, S, S)
