"""Public images of the catalog (reward pictures, partner logos): their own folder and URL, checked and resized.

Private files (staff uploads for imports, export files) live under MEDIA_ROOT and are never served. The
catalog's images are meant for members' browsers, so they are kept apart: PUBLIC_MEDIA_ROOT on disk and
PUBLIC_MEDIA_URL on the web (docs/deploy.md says how production serves them). Every image is opened with
Pillow, refused unless it is a real PNG, JPEG or WebP, shrunk to MAX_SIDE and encoded again, which drops
metadata (a phone's GPS position) and anything smuggled after the picture.
"""

import io
import os
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

MAX_SIDE = 800
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}


@deconstructible
class PublicMediaStorage(FileSystemStorage):
    """FileSystemStorage rooted at PUBLIC_MEDIA_ROOT, served at PUBLIC_MEDIA_URL; read from the settings on each
    use, so tests and deployments that change them are followed."""

    def __init__(self):
        super().__init__()

    @property
    def base_location(self):
        return str(settings.PUBLIC_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    @property
    def base_url(self):
        url = settings.PUBLIC_MEDIA_URL
        return url if url.endswith("/") else url + "/"


@deconstructible
class public_upload_to:
    """A random name in `folder`: the original file name (maybe a person's name) never reaches the web."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, instance, filename: str) -> str:
        extension = os.path.splitext(filename)[1].lower() or ".png"
        return f"{self.folder}/{uuid.uuid4().hex}{extension}"

    def __eq__(self, other):
        return isinstance(other, public_upload_to) and other.folder == self.folder


def image_clean(upload) -> ContentFile:
    """A checked, resized and re-encoded copy of an uploaded image, or ValidationError in words staff understand."""
    if upload.size and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(_("The image is larger than 5 MB."), code="image_too_large")
    upload.seek(0)
    try:
        with Image.open(upload) as probe:
            image_format = probe.format
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(_("This file is not an image we can read."), code="image_unreadable") from None
    if image_format not in ALLOWED_FORMATS:
        raise ValidationError(_("Upload a PNG, JPEG or WebP image."), code="image_format")
    if width * height > MAX_PIXELS:
        raise ValidationError(_("The image has too many pixels."), code="image_too_many_pixels")
    upload.seek(0)
    with Image.open(upload) as image:
        image.load()
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        has_alpha = image.mode in ("RGBA", "LA", "P")
        out = io.BytesIO()
        if has_alpha:
            image.convert("RGBA").save(out, format="PNG", optimize=True)
            extension = "png"
        else:
            image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
            extension = "jpg"
    return ContentFile(out.getvalue(), name=f"image.{extension}")
