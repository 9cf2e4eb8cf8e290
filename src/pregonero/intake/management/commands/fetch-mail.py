"""``pregonero fetch-mail``: reads the office's mailbox once (what the worker does every minute) and says what came."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _, ngettext

from pregonero.intake.imap import mailbox_poll


class Command(BaseCommand):
    help = _("Revisa una vez el buzón de correo de la oficina y registra los correos nuevos como solicitudes por "
             "registrar.")

    def handle(self, *args, **options):
        if not settings.INTAKE_IMAP_HOST:
            raise CommandError(_("El buzón de la oficina no está configurado: falta INTAKE_IMAP_HOST."))
        result = mailbox_poll()
        lines = [
            ngettext("%(n)d correo nuevo registrado", "%(n)d correos nuevos registrados", result.new)
            % {"n": result.new}
            + (ngettext(" (%(n)d apartado: no parece solicitud)", " (%(n)d apartados: no parecen solicitudes)",
                        result.aside) % {"n": result.aside} if result.aside else "")
            + ".",
        ]
        if result.already:
            lines.append(ngettext("%(n)d ya estaba registrado.", "%(n)d ya estaban registrados.", result.already)
                         % {"n": result.already})
        if result.left:
            lines.append(ngettext("%(n)d no se pudo guardar; se intentará en la próxima revisión.",
                                  "%(n)d no se pudieron guardar; se intentará en la próxima revisión.", result.left)
                         % {"n": result.left})
        self.stdout.write("\n".join(lines))
        if result.error:
            raise CommandError(result.error)
