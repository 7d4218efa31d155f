"""Image loading: each kind of damage gives its BadRecord reason; each mode gives the right RGB array."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from fixtures import image_bytes, noisy_bytes, write
from PIL import Image

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import decode_image, load_image, resize_image, to_rgb


def _save(tmp_path, img: Image.Image, name: str, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


def _png_header(width: int, height: int) -> bytes:
    """A PNG that only claims a size: Pillow reads the size without decoding anything."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _reason(path, **kwargs) -> str:
    with pytest.raises(BadRecord) as err:
        load_image(path, "rec-1", **kwargs)
    assert err.value.source == "rec-1"
    return err.value.reason


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("truncated.jpg", noisy_bytes(fmt="JPEG")[: len(noisy_bytes(fmt="JPEG")) // 2], "corrupt_image"),
        ("truncated.png", noisy_bytes(fmt="PNG")[: len(noisy_bytes(fmt="PNG")) // 2], "corrupt_image"),
        ("garbage.jpg", b"this is not an image at all", "corrupt_image"),
        ("empty.jpg", b"", "empty_image"),
        # Beyond our default limit (8192^2) but under Pillow's: our own check.
        ("big.png", _png_header(9000, 9000), "image_too_large"),
        # Beyond Pillow's warning limit (~89M px): the warning is an error here.
        ("bomb-warning.png", _png_header(12000, 12000), "image_too_large"),
        # Beyond twice Pillow's limit: DecompressionBombError from Image.open.
        ("bomb-error.png", _png_header(50000, 50000), "image_too_large"),
    ],
)
def test_damage_gives_reason(tmp_path, name, data, reason):
    assert _reason(write(tmp_path / name, data)) == reason


def test_missing_and_limit(tmp_path):
    assert _reason(tmp_path / "nope.jpg") == "missing_image"
    assert _reason(tmp_path) == "missing_image"  # a folder is not an image file
    path = write(tmp_path / "ok.jpg", image_bytes(size=(100, 100)))
    assert _reason(path, max_pixels=64 * 64) == "image_too_large"
    assert load_image(path, "rec-1").shape == (100, 100, 3)
    with pytest.raises(BadRecord, match="empty_image"):
        decode_image(b"", "m")


def test_rgb_and_grey(tmp_path):
    rgb = load_image(write(tmp_path / "a.png", image_bytes(size=(5, 3), color=(10, 20, 30), fmt="PNG")))
    assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8 and (rgb == (10, 20, 30)).all()
    grey = load_image(_save(tmp_path, Image.new("L", (4, 2), 77), "g.png"))
    assert grey.shape == (2, 4, 3) and (grey == 77).all()
    bits = load_image(_save(tmp_path, Image.new("1", (4, 2), 1), "b.png"))
    assert (bits == 255).all()


def test_palette_with_transparency_is_white(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    out = load_image(_save(tmp_path, img, "p.png", transparency=1))
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [255, 255, 255]
    opaque = load_image(_save(tmp_path, img, "p2.png"))
    assert opaque[0, 1].tolist() == [0, 0, 255]


def test_alpha_is_composited_on_white(tmp_path):
    rgba = load_image(_save(tmp_path, Image.new("RGBA", (2, 2), (255, 0, 0, 128)), "a.png"))
    assert np.abs(rgba[0, 0].astype(int) - [255, 127, 127]).max() <= 1
    clear = load_image(_save(tmp_path, Image.new("LA", (2, 2), (0, 0)), "la.png"))
    assert (clear == 255).all()


def test_cmyk(tmp_path):
    white = load_image(_save(tmp_path, Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "c.jpg"))
    cyan = load_image(_save(tmp_path, Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "c2.tif"))
    assert (white >= 250).all() and cyan[0, 0].tolist() == [0, 255, 255]


def test_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    out = load_image(_save(tmp_path, Image.fromarray(values), "d.png"))
    assert out[0, :, 0].tolist() == [0, 128, 255] and (out[..., 0] == out[..., 2]).all()
    as_int = to_rgb(Image.fromarray(values.astype(np.int32)))  # mode "I"
    assert as_int[0, :, 1].tolist() == [0, 128, 255]
    as_float = to_rgb(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)))  # mode "F"
    assert as_float[0, :, 0].tolist() == [0, 128, 255]


def test_exif_orientation_6_rotates(tmp_path):
    pixels = np.zeros((2, 4, 3), dtype=np.uint8)  # H=2, W=4; the top-left pixel is red
    pixels[0, 0] = (255, 0, 0)
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(_save(tmp_path, img, "r.png", exif=exif))
    assert out.shape == (4, 2, 3)
    assert out[0, 1].tolist() == [255, 0, 0]  # top-left went to the top-right
    jpeg = load_image(_save(tmp_path, Image.new("RGB", (40, 20)), "r.jpg", exif=exif))
    assert jpeg.shape == (40, 20, 3)


def test_resize():
    image = np.zeros((10, 20, 3), dtype=np.uint8)
    assert resize_image(image, 8).shape == (8, 8, 3)
    assert resize_image(np.full((8, 8, 3), 9, dtype=np.uint8), 8)[0, 0, 0] == 9


def test_decode_bytes_matches_file(tmp_path):
    data = image_bytes(fmt="PNG")
    assert np.array_equal(decode_image(data, "m"), load_image(write(tmp_path / "x.png", data)))
    assert decode_image(io.BytesIO(image_bytes()).getvalue(), "m").shape == (8, 12, 3)
