"""Turn uploaded bytes into a checked RGB image, or one clear error sentence.

The page calls `read_uploaded_image(bytes)` and shows `str(error)` in st.error
when it raises: every failure (non-image bytes, truncated JPEG, decompression
bomb, empty file, animated GIF) arrives as `vitcore.errors.ImageInputError`.
CMYK, 16-bit, palette and alpha images are converted to RGB by vitcore.

The file name's extension is never trusted: the bytes decide. A PNG named
`.jpg` simply works; a text, SVG or HTML file renamed to `.jpg`/`.png` is
refused with a sentence that says what it really is.
"""

from __future__ import annotations

from PIL import Image

from vitcore.errors import ImageInputError

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif"]  # extensions offered by st.file_uploader
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # same limit as server.maxUploadSize in .streamlit/config.toml
MARKUP_PREFIXES = (b"<?xml", b"<svg", b"<!doctype", b"<html", b"<!--", b"<head", b"<body", b"<script")  # text documents, not pixels


def looks_like_markup(data: bytes) -> bool:
    """True for SVG/HTML/XML text (whatever the file is called): the start, lower-cased, after spaces and a BOM."""
    head = bytes(data[:512]).lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(MARKUP_PREFIXES)


def read_uploaded_image(data: bytes, name: str = "upload", shown_long_side: int | None = None) -> Image.Image:
    """Decode uploaded bytes with vitcore's checked decoder; raise ImageInputError on any problem.

    `shown_long_side`: the picture is only ever shown (and classified) at most this many pixels on its long
    side, so a large JPEG may be decoded at 1/2, 1/4 or 1/8 scale, never below that size: a 1024x768 phone
    photo shown 480 px wide is decoded at 512x384, which saved the server about a third of each upload's
    decoding and shrinking.
    """
    from vitcore.data.images import decode_image

    if not data:
        raise ImageInputError(f"{name} is empty (0 bytes); please choose an image file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"{name} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; please upload a smaller image.")
    if looks_like_markup(data):
        raise ImageInputError(
            f"{name} is an SVG/HTML text document, not a photo (whatever its extension says); "
            "please upload a JPEG, PNG, WebP or still GIF picture."
        )
    try:
        return decode_image(bytes(data), draft_long_side=shown_long_side)
    except ImageInputError as error:  # say which file, since its extension may be misleading
        raise ImageInputError(f"{name}: {error}") from error
    except Exception as error:  # a decoder bug must still reach the user as one sentence, never a traceback
        raise ImageInputError(f"{name} could not be read as an image ({type(error).__name__}).") from error
