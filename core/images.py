"""Loading user images safely: one clear error per kind of bad input, always returning BGR uint8.

Handles grayscale, RGBA/LA/P (alpha flattened on white), 16-bit and float images, EXIF rotation, and refuses
decompression bombs *before* decoding the pixels (Pillow reads the header lazily).
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import numpy as np

from core.errors import ImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"}


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def read_bytes(path: str | Path, max_bytes: int | None = None) -> bytes:
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: file not found")
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image file")
    if not p.is_file():
        raise ImageError(f"{p}: is not a regular file (a device, pipe or socket)")
    size = p.stat().st_size
    if size == 0:
        raise ImageError(f"{p}: file is empty (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise ImageError(f"{p}: file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ImageError(f"{p}: cannot read file ({exc.strerror})") from None


def decode_image(data: bytes, name: str = "image", max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode encoded image bytes to a BGR uint8 array, or raise ImageError naming ``name`` and the problem."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: image is {width}x{height} = {width * height / 1e6:.0f} megapixels, over the "
                    f"{max_pixels / 1e6:.0f} megapixel limit (possible decompression bomb); resize it first"
                )
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{name}: image is too large to decode safely: over the {max_pixels / 1e6:.0f} megapixel limit "
            "(possible decompression bomb); resize it first"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (unrecognised format); use JPEG, PNG, BMP, WebP or TIFF") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: image is corrupt or truncated ({exc})") from None

    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        log.debug("%s: ignoring unreadable EXIF orientation", name)
    return _to_bgr_uint8(image, name)


def _to_bgr_uint8(image, name: str) -> np.ndarray:
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        high = array.max() if array.size else 0
        scale = 255.0 / (65535.0 if high > 255 else max(high, 1.0)) if mode != "F" else 255.0 / max(high, 1e-9)
        gray = np.clip(array * scale, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"{name}: image has no pixels")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def load_image(path: str | Path, max_pixels: int = 40_000_000, max_bytes: int | None = None) -> np.ndarray:
    """Read an image file from disk as BGR uint8 (see :func:`decode_image`)."""
    return decode_image(read_bytes(path, max_bytes), name=str(path), max_pixels=max_pixels)


def encode_jpeg(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    import cv2

    ok, buffer = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("could not encode image as JPEG")
    return buffer.tobytes()
