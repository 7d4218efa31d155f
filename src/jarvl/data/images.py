"""Loading images from real datasets: every kind of damage becomes a ``BadRecord``, every mode RGB.

Real image folders hold missing files, zero-byte files, truncated downloads, decompression bombs,
and images in every mode Pillow knows. ``load_image`` (a file) and ``decode_image`` (bytes, e.g. a
WebDataset member) turn each into either ``uint8[H, W, 3]`` RGB pixels or a ``BadRecord`` whose
``reason`` is one of:

* ``missing_image``: no file at the path;
* ``empty_image``: zero bytes;
* ``corrupt_image``: not an image, truncated, or a decoder error;
* ``image_too_large``: more than ``max_pixels`` pixels (default 8192 x 8192). Pillow's own
  decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, ~89 M pixels) applies too: its warning is
  turned into an error here, so a larger ``max_pixels`` cannot pass that global limit.

Modes: 'L' and '1' (grey) are replicated; 'P' goes through RGBA when it has a transparent index;
'RGBA', 'LA', 'PA' are composited over white; 'CMYK', 'YCbCr', 'LAB', 'HSV' are converted by
Pillow; 16-bit 'I;16*' and 32-bit 'I' are scaled by 255/65535 (not clipped), float 'F' by 255
when its values lie in [0, 1]. The EXIF orientation tag is applied (``ImageOps.exif_transpose``).
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps

from jarvl.data.bad_records import BadRecord
from jarvl.data.schema import Sample

MAX_PIXELS = 8192 * 8192

# A truncated file must be an error, never a silently grey-padded image: Pillow pads truncated
# images when this global is True, and another library may have set it.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_CONVERTIBLE = ("RGB", "RGBX", "L", "1", "CMYK", "YCbCr", "LAB", "HSV")


def load_image(path: str | os.PathLike, source_id: str = "", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """uint8[H, W, 3] RGB pixels of the image file at ``path``.

    Raises:
        BadRecord: ``missing_image``, ``empty_image``, ``corrupt_image`` or ``image_too_large``,
            with ``source=source_id`` and the path in ``detail``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadRecord("missing_image", source_id, f"no file {path}")
    if os.path.getsize(path) == 0:
        raise BadRecord("empty_image", source_id, f"{path} has zero bytes")
    with open(path, "rb") as f:
        return _decode(f, source_id, path, max_pixels)


def decode_image(data: bytes, source_id: str = "", max_pixels: int = MAX_PIXELS, where: str = "") -> np.ndarray:
    """uint8[H, W, 3] RGB pixels of encoded image bytes (JPEG, PNG, WebP, ...); see ``load_image``."""
    if not data:
        raise BadRecord("empty_image", source_id, f"{where or 'image'} has zero bytes")
    return _decode(io.BytesIO(data), source_id, where or "image bytes", max_pixels)


def _decode(fp: BinaryIO, source_id: str, where: str, max_pixels: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(fp) as img:
                w, h = img.size
                if w * h > max_pixels:  # checked before decoding a single pixel
                    raise BadRecord("image_too_large", source_id, f"{where} is {w}x{h} > {max_pixels} pixels")
                img.load()
                return to_rgb(_exif_upright(img))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise BadRecord("image_too_large", source_id, f"{where}: {err}") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as err:
            # UnidentifiedImageError and "image file is truncated" are OSErrors; some plugins raise
            # SyntaxError, ValueError, EOFError or struct.error on malformed headers.
            raise BadRecord("corrupt_image", source_id, f"{where}: {err}") from None


def _exif_upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not cost a readable image
        return img


def to_rgb(img: Image.Image) -> np.ndarray:
    """uint8[H, W, 3] pixels of a loaded Pillow image of any supported mode (see module doc).

    Raises ValueError for a mode it does not know.
    """
    mode = img.mode
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    if mode.startswith("I") or mode == "F":
        grey = _to_8bit(np.asarray(img), mode)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in _CONVERTIBLE or mode == "P":
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    raise ValueError(f"unsupported image mode {mode!r}")  # a corrupt_image in _decode


def _to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16/32-bit integer or float grey levels to uint8[H, W] (65535 -> 255, rounded)."""
    values = values.astype(np.float64)
    if mode == "F" and values.size and values.max() <= 1.0:
        scaled = values * 255.0
    else:
        # 'I' images hold 16-bit data in practice (PNG/TIFF 16-bit grey); values beyond are clipped.
        scaled = np.clip(values, 0, 65535) * (255.0 / 65535.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """uint8[H, W, 3] -> uint8[size, size, 3], bilinear (Pillow, antialiased when shrinking)."""
    if image.shape[:2] == (size, size):
        return image
    resized = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def with_image(sample: Sample, max_pixels: int = MAX_PIXELS) -> Sample:
    """``sample`` with ``image`` loaded from ``sample.image_path`` (BadRecord names ``sample.id``)."""
    return dataclasses.replace(sample, image=load_image(sample.image_path, sample.id, max_pixels))
