"""What an uploaded file really is, and image thumbnails: read from the bytes, never from what the client says.

`sniff` decides the content type an attachment is stored and served with; `thumbnail` makes the small image
the issue page shows. Images are decoded by Pillow with a pixel limit (a decompression bomb is refused
before it is decoded).
"""

from __future__ import annotations

import io
import mimetypes
import warnings
from dataclasses import dataclass
from typing import IO

from django.core.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError

# Raster images Pillow decodes and browsers show safely inline (no scripts, unlike SVG).
SAFE_IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
# Other types recognised by their first bytes.
_SIGNATURES = [
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
]
SNIFF_BYTES = 8192
THUMBNAIL_SIZE = (240, 240)


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    width: int | None = None
    height: int | None = None


def _claims_image(filename: str, claimed: str) -> bool:
    guessed = mimetypes.guess_type(filename)[0] or ""
    return any(t in SAFE_IMAGE_TYPES.values() or t == "image/bmp" for t in (guessed, (claimed or "").lower()))


def _open_image(stream: IO[bytes], *, max_pixels: int) -> Image.Image | None:
    """Return the image in the stream (header read only), None when it is not one; refuse one over max_pixels."""
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError):
        return None
    if image.format not in SAFE_IMAGE_TYPES:
        return None
    if image.width * image.height > max_pixels:
        raise ValidationError(
            f"The image is {image.width} × {image.height} pixels: at most {max_pixels:,} pixels are accepted."
        )
    return image


def sniff(stream: IO[bytes], *, filename: str, claimed: str, max_pixels: int) -> Sniffed:
    """Return what the file is (content type and, for images, size) from its bytes.

    A file named or declared as an image (photo.png, image/png) that is not one is refused: a forged type.
    Anything else that is not a known type is text/plain when it is UTF-8 text, else application/octet-stream;
    HTML, SVG and scripts are thus never stored as something a browser would run.
    """
    image = _open_image(stream, max_pixels=max_pixels)
    if image is not None:
        return Sniffed(SAFE_IMAGE_TYPES[image.format or ""], image.width, image.height)
    if _claims_image(filename, claimed):
        raise ValidationError(f"{filename} is not an image its name or type says it is (PNG, JPEG, GIF or WebP).")
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return Sniffed(content_type)
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the sniff window is still text.
            if exc.start < len(head) - 4:
                return Sniffed("application/octet-stream")
        return Sniffed("text/plain")
    return Sniffed("application/octet-stream")


def thumbnail(stream: IO[bytes], *, max_pixels: int) -> bytes:
    """Return a PNG thumbnail (at most THUMBNAIL_SIZE) of the image in the stream; raise ValidationError if broken."""
    image = _open_image(stream, max_pixels=max_pixels)
    if image is None:
        raise ValidationError("The image could not be read.")
    try:
        image.thumbnail(THUMBNAIL_SIZE)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA")
        out = io.BytesIO()
        image.save(out, format="PNG")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError("The image could not be read.") from exc
    return out.getvalue()


def is_safe_inline(content_type: str) -> bool:
    """Return whether a stored type may be shown inline by the browser (raster images); others are downloads."""
    return content_type in SAFE_IMAGE_TYPES.values()
