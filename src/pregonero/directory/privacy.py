"""The privacy notices (simplified and full): publishing a new version, and the version the public pages show.

The texts are plain paragraphs kept in the database, so the office changes them in the admin without a
deployment; every published version stays, with who published it and when (the law asks the office to be able
to show which notice a person was given).
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.campaigns.services import audit_log

from .models import PrivacyNotice


def privacy_email() -> str:
    """Where ARCO requests go: PRIVACY_EMAIL, else the unsubscribe address, else the one mail comes from."""
    configured = getattr(settings, "PRIVACY_EMAIL", "") or getattr(settings, "UNSUBSCRIBE_EMAIL", "")
    return configured or settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")


def clean_text(text: str) -> str:
    """Paragraphs separated by one blank line, each without trailing spaces; Windows line ends undone."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def privacy_notice_publish(*, kind: str, text: str, actor) -> PrivacyNotice:
    """Publishes ``text`` as the next version of that notice; the same text as the current one publishes nothing
    (a form sent twice). Raises ValidationError (Spanish) for an empty text or a version published meanwhile."""
    text = clean_text(text)
    if not text:
        raise ValidationError(_("Escriba el texto del aviso de privacidad."))
    try:
        with transaction.atomic():
            current = PrivacyNotice.objects.filter(kind=kind).order_by("-version").first()
            if current is not None and current.text == text:
                return current
            notice = PrivacyNotice.objects.create(kind=kind, text=text, published_by=actor,
                                                  version=current.version + 1 if current else 1)
            audit_log(campaign=None, actor=actor, action="directory.privacy.publish",
                      data={"notice": notice.pk, "kind": kind, "version": notice.version})
    except IntegrityError:
        raise ValidationError(_("Otra persona publicó una versión de este aviso en este mismo momento. "
                                "Revise la versión vigente y vuelva a intentarlo.")) from None
    return notice


def current_notice(kind: str) -> PrivacyNotice | None:
    return PrivacyNotice.objects.filter(kind=kind, published_at__lte=timezone.now()).order_by("-version").first()


def notice_text(notice: PrivacyNotice) -> str:
    """The text as the public reads it: {correo} and {meses} filled in from the configuration."""
    return notice.text.replace("{correo}", privacy_email()).replace("{meses}", str(settings.RETENTION_MONTHS))
