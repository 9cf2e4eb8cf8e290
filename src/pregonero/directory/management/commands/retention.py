"""``pregonero retention [--dry-run]``: purges the personal data whose retention period is over."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _, ngettext

from pregonero.directory.retention import retention_cutoff, retention_run


def describe(counts: dict) -> str:
    texts = {
        "messages": ngettext("%(n)d mensaje", "%(n)d mensajes", counts.get("messages", 0)),
        "replies": ngettext("%(n)d número de una respuesta por WhatsApp", "%(n)d números de respuestas por WhatsApp",
                            counts.get("replies", 0)),
        "notes": ngettext("%(n)d nota de una respuesta", "%(n)d notas de respuestas", counts.get("notes", 0)),
        "links": ngettext("%(n)d enlace personal", "%(n)d enlaces personales", counts.get("links", 0)),
        "walk_ins": ngettext("%(n)d persona registrada en la puerta", "%(n)d personas registradas en la puerta",
                             counts.get("walk_ins", 0)),
        "files": ngettext("%(n)d archivo de invitados", "%(n)d archivos de invitados", counts.get("files", 0)),
        "webhooks": ngettext("%(n)d aviso de WhatsApp ya aplicado", "%(n)d avisos de WhatsApp ya aplicados",
                             counts.get("webhooks", 0)),
    }
    parts = [texts[name] % {"n": count} for name, count in counts.items() if count and name in texts]
    return ", ".join(parts) or _("nada que eliminar")


class Command(BaseCommand):
    help = _("Elimina los datos personales cuyo plazo de conservación (RETENTION_MONTHS) ya se cumplió: "
             "mensajes, respuestas y registros en la puerta de las solicitudes cuyo evento pasó.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help=_("Solo muestra qué se eliminaría, sin cambiar nada."))

    def handle(self, *args, dry_run: bool, **options):
        cutoff = retention_cutoff()
        self.stdout.write(_("Plazo de conservación: %(months)d meses (eventos y solicitudes terminadas antes del "
                            "%(date)s).") % {"months": settings.RETENTION_MONTHS,
                                            "date": timezone.localtime(cutoff).strftime("%d/%m/%Y")})
        purges = retention_run(dry_run=dry_run)
        for purge in purges:
            where = f"{purge.campaign.folio} · {purge.campaign.title}" if purge.campaign else _("Sin solicitud")
            self.stdout.write(f"{where}: {describe(purge.counts)}")
        campaigns = sum(1 for purge in purges if purge.campaign)
        done = (ngettext("Simulación: se depuraría %(n)d solicitud; no se cambió nada.",
                         "Simulación: se depurarían %(n)d solicitudes; no se cambió nada.", campaigns) if dry_run else
                ngettext("Se depuró %(n)d solicitud.", "Se depuraron %(n)d solicitudes.", campaigns))
        self.stdout.write(done % {"n": campaigns})
