from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from pregonero.devtools.demo import load_demo


class Command(BaseCommand):
    help = _("Carga los datos de demostración una sola vez y muestra los usuarios de prueba con sus contraseñas.")

    def handle(self, *args, **options):
        credentials = Path(settings.DATA_DIR) / "usuarios-demo.txt"
        created, contacts = load_demo()
        if created:
            lines = [f"{username:12} {password:16} {role}" for username, role, password in created]
            with credentials.open("a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
            credentials.chmod(0o600)
        if contacts:
            self.stdout.write(_("Directorio de demostración: %(n)d contactos.") % {"n": contacts})
        if credentials.exists():
            self.stdout.write(self.style.SUCCESS(_("Usuarios de demostración (usuario, contraseña, rol):")))
            self.stdout.write(credentials.read_text(encoding="utf-8"))
            self.stdout.write(_("(Guardados en %(path)s; cámbielos desde «Contraseña» al entrar.)") % {"path": credentials})
