"""Image loading on real photos in every format a user may hand us, and every kind of broken file."""

import io

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.images import decode_image, load_image
from tests.conftest import photos


@pytest.fixture(scope="module")
def face_photo():
    return photos("jerry_seinfeld", "val")[0]


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_colour_jpeg_loads_as_bgr(face_photo):
    image = load_image(face_photo)
    rgb = np.asarray(Image.open(face_photo).convert("RGB"))
    assert image.dtype == np.uint8 and image.shape == rgb.shape
    assert np.array_equal(image[:, :, ::-1], rgb)


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "I;16", "I"])
def test_other_modes_become_bgr_uint8(face_photo, mode):
    source = Image.open(face_photo).convert("RGB")
    if mode == "I;16":
        converted = Image.fromarray((np.asarray(source.convert("L"), np.uint16) * 257).astype(np.uint16))
    elif mode == "I":
        converted = source.convert("L").convert("I")
    else:
        converted = source.convert(mode)
    data = _encode(converted, "PNG" if mode != "I" else "TIFF")
    image = decode_image(data, f"photo.{mode}")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[:2] == (source.height, source.width)
    assert 40 < image.mean() < 220  # scaled into the visible range, not crushed to black or white


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.jpg")


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is a text file, not a photo\n" * 20)
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "notes.jpg")


def test_truncated_image(tmp_path, face_photo):
    data = face_photo.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(tmp_path / "cut.jpg")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    # a 12000x12000 PNG compresses to well under 1 MB but decodes to 144 megapixels
    bomb = Image.new("L", (12000, 12000), 0)
    path = tmp_path / "bomb.png"
    bomb.save(path, optimize=True)
    del bomb
    with pytest.raises(ImageError, match="megapixel limit"):
        load_image(path, max_pixels=40_000_000)


def test_upload_size_limit(tmp_path, face_photo):
    with pytest.raises(ImageError, match="over the"):
        load_image(face_photo, max_bytes=1000)
