"""``pregonero backup``: the database and the uploaded files in one archive."""

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from pregonero.ops.backups import COUNTED, ENGINE_NAMES, MEDIA, BackupError, backup_create


class Command(BaseCommand):
    help = _("Respalda la base de datos (copia en línea de SQLite o pg_dump de PostgreSQL) y los archivos subidos "
             "en un solo archivo pregonero-respaldo-AAAAMMDD-HHMMSS.tar.gz con su manifiesto y sumas de "
             "verificación. Puede ejecutarse con Pregonero en marcha. El respaldo contiene datos personales: "
             "guárdelo donde solo lo lea quien debe.")

    def add_arguments(self, parser):
        parser.add_argument("--output", metavar=_("ARCHIVO"),
                            help=_("Archivo .tar.gz o carpeta de destino (por omisión, la carpeta respaldos/ "
                                   "dentro de PREGONERO_DATA_DIR)."))

    def handle(self, *args, output=None, **options):
        try:
            path, manifest = backup_create(output=output)
        except BackupError as error:
            raise CommandError(str(error)) from error
        files = sum(1 for member in manifest["sha256"] if member.startswith(MEDIA))
        self.stdout.write(self.style.SUCCESS(_("Respaldo creado: %(path)s (%(size)s)")
                                             % {"path": path, "size": filesizeformat(path.stat().st_size)}))
        counts = ", ".join(f"{count} {COUNTED[label]}" for label, count in manifest["counts"].items())
        self.stdout.write(_("Base de datos %(engine)s: %(counts)s.") % {"engine": ENGINE_NAMES[manifest["engine"]],
                                                                        "counts": counts})
        self.stdout.write(_("Archivos subidos: %(files)d.") % {"files": files})
