"""``pregonero sync-templates``: the same refresh as the proof page's "Actualizar plantillas" button."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.sending.models import WhatsAppTemplate
from pregonero.sending.templates_sync import TemplateSyncError, status_label, sync_summary, templates_sync


class Command(BaseCommand):
    help = _("Actualiza la lista de plantillas de WhatsApp desde la cuenta, con su estado de aprobación.")

    def handle(self, *args, **options):
        try:
            counts = templates_sync()
        except TemplateSyncError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(sync_summary(counts))
        for template in WhatsAppTemplate.objects.all():
            self.stdout.write(f"  {template.name} · {template.language} · {status_label(template.status)}")
