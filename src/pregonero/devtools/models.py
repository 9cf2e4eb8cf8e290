from django.db import models
from django.utils.translation import gettext_lazy as _


class SinkMessage(models.Model):
    """An e-mail caught by the embedded local sink (no SMTP server configured); readable in the browser."""

    received_at = models.DateTimeField(auto_now_add=True)
    mail_from = models.CharField(max_length=320)
    recipients = models.TextField()
    subject = models.CharField(max_length=998, blank=True)
    raw = models.BinaryField()

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("correo del buzón local")
        verbose_name_plural = _("correos del buzón local")
