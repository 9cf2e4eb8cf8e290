"""Checks an upload is what it claims to be before anything is stored.

The extension is only a hint: the content decides. Images are opened with Pillow, PDFs and spreadsheets are
recognised by their signatures, CSV must decode as text.
"""

import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

IMAGE_FORMATS = {"JPEG": ("jpg", "jpeg"), "PNG": ("png",)}
MAX_IMAGE_PIXELS = 40_000_000


@dataclass(frozen=True)
class Accepted:
    extension: str
    content_type: str


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _head(upload, size=8192) -> bytes:
    upload.seek(0)
    head = upload.read(size)
    upload.seek(0)
    return head


def _image(upload, ext: str) -> Accepted | None:
    try:
        with Image.open(upload) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValidationError(_("La imagen es demasiado grande (más de 40 megapíxeles)."), code="pixels")
            image.verify()
            fmt = image.format
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        return None
    finally:
        upload.seek(0)
    if fmt in IMAGE_FORMATS and ext in IMAGE_FORMATS[fmt]:
        return Accepted(ext, f"image/{fmt.lower()}")
    return None


def _pdf(upload, ext: str) -> Accepted | None:
    if ext == "pdf" and _head(upload, 1024).lstrip(b"\r\n\t ").startswith(b"%PDF-"):
        return Accepted("pdf", "application/pdf")
    return None


def _zip_names(upload) -> set[str]:
    try:
        with zipfile.ZipFile(upload) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return set()
    finally:
        upload.seek(0)


def _spreadsheet(upload, ext: str) -> Accepted | None:
    head = _head(upload)
    if ext == "xlsx" and head.startswith(b"PK") and "[Content_Types].xml" in _zip_names(upload):
        return Accepted(ext, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if ext == "ods" and head.startswith(b"PK") and b"application/vnd.oasis.opendocument.spreadsheet" in head[:100]:
        return Accepted(ext, "application/vnd.oasis.opendocument.spreadsheet")
    if ext == "xls" and head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return Accepted(ext, "application/vnd.ms-excel")
    if ext == "csv" and b"\x00" not in head:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                head.decode(encoding)
            except UnicodeDecodeError:
                continue
            return Accepted(ext, "text/csv")
    return None


SNIFFERS = {"image": (_image,), "document": (_pdf, _image), "spreadsheet": (_spreadsheet,)}
ALLOWED_EXTENSIONS = {
    "image": ("jpg", "jpeg", "png"),
    "document": ("pdf", "jpg", "jpeg", "png"),
    "spreadsheet": ("xlsx", "xls", "ods", "csv"),
}


def validate_upload(upload, family: str) -> Accepted:
    """Raises ValidationError (in Spanish) unless the file is within the size limit and really of its type."""
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            _("«%(name)s» pesa %(size)s; el máximo es %(limit)s.")
            % {"name": upload.name, "size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
            code="too_big",
        )
    if upload.size == 0:
        raise ValidationError(_("«%(name)s» está vacío.") % {"name": upload.name}, code="empty")
    ext = extension_of(upload.name)
    allowed = ALLOWED_EXTENSIONS[family]
    if ext not in allowed:
        raise ValidationError(
            _("«%(name)s» no es de un tipo aceptado aquí (%(allowed)s).")
            % {"name": upload.name, "allowed": ", ".join(allowed)},
            code="extension",
        )
    for sniff in SNIFFERS[family]:
        accepted = sniff(upload, ext)
        if accepted:
            return accepted
    raise ValidationError(
        _("El contenido de «%(name)s» no corresponde a un archivo .%(ext)s válido.") % {"name": upload.name, "ext": ext},
        code="content",
    )
