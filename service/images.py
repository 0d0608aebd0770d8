"""Base64 JPEG/PNG camera images -> ``(H, W, 3)`` uint8 arrays, with size limits."""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from typing import Dict, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from fastdrive.errors import InputError


class ImageError(InputError, ValueError):
    """An image that cannot be decoded (HTTP 422)."""


class PayloadTooLarge(InputError, ValueError):
    """A body or image over the configured limit (HTTP 413)."""

    http_status = 413


def decode_image(camera: str, data: str, max_pixels: int, field: str = "images") -> np.ndarray:
    """One base64 JPEG or PNG (a ``data:image/...;base64,`` prefix is accepted) -> ``(H, W, 3)`` uint8 RGB.

    Raises:
        ImageError: not base64, not an image, or smaller than 28 x 28.
        PayloadTooLarge: more than ``max_pixels`` pixels (checked before decoding the pixels).
    """
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{field}.{camera}: not valid base64") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            w, h = img.size
            if w * h > max_pixels:
                raise PayloadTooLarge(f"{field}.{camera}: {w}x{h} pixels is over the limit of {max_pixels} pixels")
            if img.format not in ("JPEG", "PNG"):
                raise ImageError(f"{field}.{camera}: expected a JPEG or PNG image, got {img.format}")
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except PayloadTooLarge:
        raise
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{field}.{camera}: cannot decode the image ({type(exc).__name__})") from None
    if min(arr.shape[:2]) < 28:
        raise ImageError(f"{field}.{camera}: {arr.shape[1]}x{arr.shape[0]} is smaller than 28x28")
    return arr


def decode_images(images: Mapping[str, str], needed: tuple, max_pixels: int,
                  field: str = "images") -> Dict[str, np.ndarray]:
    """Decode the cameras the model reads (others are accepted and ignored); ``field`` names the
    body field in error messages (``images`` or ``prev_images``).

    Raises:
        ImageError: a needed camera is missing, or an image is bad.
    """
    missing = [c for c in needed if c not in images]
    if missing:
        raise ImageError(f"{field}: missing required camera(s) {', '.join(missing)}; this model reads "
                         f"{', '.join(needed)}")
    return {c: decode_image(c, images[c], max_pixels, field) for c in needed}


def encode_image(frame: np.ndarray, fmt: str = "PNG", quality: int = 90) -> str:
    """``(H, W, 3)`` uint8 -> base64 PNG / JPEG (what a client sends)."""
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt.upper() == "JPEG" else {}
    Image.fromarray(np.asarray(frame, np.uint8)).save(buf, format=fmt, **kwargs)
    return base64.b64encode(buf.getvalue()).decode("ascii")
