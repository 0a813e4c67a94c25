"""Turn uploaded bytes into a checked RGB image, or one clear error sentence.

The page calls `read_uploaded_image(bytes)` and shows `str(error)` in st.error
when it raises: every failure (non-image bytes, truncated JPEG, decompression
bomb, empty file, animated GIF) arrives as `vitcore.errors.ImageInputError`.
CMYK, 16-bit, palette and alpha images are converted to RGB by vitcore.
"""

from __future__ import annotations

from PIL import Image

from vitcore.errors import ImageInputError

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif"]  # extensions offered by st.file_uploader
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # same limit as server.maxUploadSize in .streamlit/config.toml


def read_uploaded_image(data: bytes, name: str = "upload") -> Image.Image:
    """Decode uploaded bytes with vitcore's checked decoder; raise ImageInputError on any problem."""
    from vitcore.data.images import decode_image

    if not data:
        raise ImageInputError(f"{name} is empty (0 bytes); please choose an image file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"{name} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; please upload a smaller image.")
    try:
        return decode_image(bytes(data))
    except ImageInputError:
        raise
    except Exception as error:  # a decoder bug must still reach the user as one sentence, never a traceback
        raise ImageInputError(f"{name} could not be read as an image ({type(error).__name__}).") from error
