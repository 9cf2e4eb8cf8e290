"""Checks an upload is what it claims to be before anything is stored.

The extension is only a hint: the content decides. Images are opened with Pillow and re-encoded, so only their
pixels are kept (no EXIF with a GPS position, no text chunks, nothing hidden after the image data); PDFs must start
with their signature and hide no zip; spreadsheets get the same zip and XML checks as contact imports
(directory.readers); CSV must be text. The person's file name is only ever shown back, cleaned: it never names
anything on disk (see campaigns.models.attachment_path).
"""

import io
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from pregonero.directory.readers import UnreadableFile, refuse_non_text, workbook_zip_format

IMAGE_FORMATS = {"JPEG": ("jpg", "jpeg"), "PNG": ("png",)}
MAX_IMAGE_PIXELS = 40_000_000
KEPT_IMAGE_INFO = ("icc_profile", "transparency", "dpi")  # how the pixels look; nothing about who or where
MARKUP = (b"<html", b"<script", b"<!doctype html", b"<body", b"<svg", b"<iframe")
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class Accepted:
    extension: str
    content_type: str


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def clean_filename(name: str) -> str:
    """The person's file name as we show it back: no folders (either slash), no control or invisible characters
    (a right-to-left mark can make "gpj.exe" read "exe.jpg"), composed accents, at most 255 characters with the
    extension kept."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C")).strip(" .")
    if len(name) > MAX_NAME_LENGTH:
        ext = extension_of(name)[:20]
        name = f"{name[: MAX_NAME_LENGTH - len(ext) - 1]}.{ext}"
    return name or _("archivo")


def _head(upload, size=8192) -> bytes:
    upload.seek(0)
    head = upload.read(size)
    upload.seek(0)
    return head


def _is_zip(upload) -> bool:
    try:
        return zipfile.is_zipfile(upload)
    finally:
        upload.seek(0)


def _hidden_content(upload) -> ValidationError:
    return ValidationError(
        _("«%(name)s» trae otro archivo escondido dentro (un archivo comprimido o una página web); por seguridad no "
          "se acepta. Guárdelo de nuevo desde el programa con que lo creó.") % {"name": upload.name},
        code="polyglot",
    )


def _too_many_pixels() -> ValidationError:
    return ValidationError(
        _("La imagen es demasiado grande (más de %(megapixels)d megapíxeles); redúzcala antes de subirla.")
        % {"megapixels": MAX_IMAGE_PIXELS // 1_000_000},
        code="pixels",
    )


def _reencoded(image: Image.Image, fmt: str) -> bytes:
    """The image saved afresh from its pixels: metadata, extra chunks and trailing bytes are left behind."""
    image = ImageOps.exif_transpose(image)  # a photo taken sideways keeps its orientation once EXIF is gone
    image.info = {key: image.info[key] for key in KEPT_IMAGE_INFO if key in image.info}
    output = io.BytesIO()
    image.save(output, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return output.getvalue()


def _replace_content(upload, data: bytes) -> None:
    """Rewrites the upload's own file (in memory or temporary on disk), so what gets stored is ``data``."""
    upload.file.seek(0)
    upload.file.truncate()
    upload.file.write(data)
    upload.file.flush()
    upload.file.seek(0)
    upload.size = len(data)


def _image(upload, ext: str) -> Accepted | None:
    try:
        # Pillow only warns between its own limit and twice that; both mean "too many pixels" here.
        with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
            with Image.open(upload) as image:
                fmt = image.format
                if fmt not in IMAGE_FORMATS or ext not in IMAGE_FORMATS[fmt]:
                    return None
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise _too_many_pixels()
                image.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                data = _reencoded(image, fmt)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    finally:
        upload.seek(0)
    _replace_content(upload, data)
    return Accepted(ext, f"image/{fmt.lower()}")


def _pdf(upload, ext: str) -> Accepted | None:
    head = _head(upload, 1024)
    if ext != "pdf" or not head.startswith(b"%PDF-"):
        return None
    if _is_zip(upload) or any(marker in head.lower() for marker in MARKUP):
        raise _hidden_content(upload)
    return Accepted("pdf", "application/pdf")


SPREADSHEET_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "xls": "application/vnd.ms-excel",
    "csv": "text/csv",
}


def _spreadsheet(upload, ext: str) -> Accepted | None:
    head = _head(upload)
    try:
        if ext in ("xlsx", "ods") and head.startswith(b"PK\x03\x04"):
            try:
                matches = workbook_zip_format(upload, upload.name) == ext
            finally:
                upload.seek(0)
        elif ext == "xls":
            matches = head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
        elif ext == "csv":
            refuse_non_text(head, upload.name)
            matches = any(_decodes(head, encoding) for encoding in ("utf-8-sig", "cp1252"))
        else:
            matches = False
    except UnreadableFile as error:
        if error.code == "invalid":
            return None  # not a spreadsheet at all: the general message below says so
        raise ValidationError(error.message, code=error.code) from None
    return Accepted(ext, SPREADSHEET_TYPES[ext]) if matches else None


def _decodes(head: bytes, encoding: str) -> bool:
    try:
        head.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


SNIFFERS = {"image": (_image,), "document": (_pdf, _image), "spreadsheet": (_spreadsheet,)}
ALLOWED_EXTENSIONS = {
    "image": ("jpg", "jpeg", "png"),
    "document": ("pdf", "jpg", "jpeg", "png"),
    "spreadsheet": ("xlsx", "xls", "ods", "csv"),
}


def validate_upload(upload, family: str) -> Accepted:
    """Raises ValidationError (in Spanish) unless the file is within the size limit and really of its type.

    The upload's name is cleaned in place, and an image's content is replaced by its re-encoded pixels.
    """
    upload.name = clean_filename(upload.name)
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
