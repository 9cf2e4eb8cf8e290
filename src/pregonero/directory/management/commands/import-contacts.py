"""``pregonero import-contacts FILE``: the same import as the web page, for IT and for large files."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pregonero.directory.importer import import_prepare, import_run
from pregonero.directory.models import ImportBatch, Sector
from pregonero.directory.readers import UnreadableFile


class Command(BaseCommand):
    help = _("Importa contactos de un archivo .xlsx, .xls, .ods o .csv al directorio.")

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("Archivo a importar."))
        parser.add_argument("--sector", help=_("Sector para las filas que no traen uno."))
        parser.add_argument("--dry-run", action="store_true", help=_("Revisa el archivo sin guardar nada."))
        parser.add_argument("--json", action="store_true", help=_("Resultado en JSON."))

    def handle(self, *args, file, sector, dry_run, json: bool, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(_("No existe el archivo %(path)s.") % {"path": path})
        default_sector = self.sector(sector) if sector else None
        try:
            with path.open("rb") as handle:
                batch = import_prepare(file=handle, filename=path.name, actor=None, default_sector=default_sector)
        except UnreadableFile as error:
            raise CommandError(str(error)) from None
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.RUNNING)
        batch = import_run(batch, dry_run=dry_run)
        if batch.status == ImportBatch.Status.FAILED:
            raise CommandError(batch.error)
        issues = batch.dry_run_issues if dry_run else list(batch.issues.all())
        self.report(batch, issues, dry_run=dry_run, as_json=json)
        if dry_run:
            batch.file.delete(save=False)
            batch.delete()

    def sector(self, name: str) -> Sector:
        found = Sector.objects.filter(name__iexact=name.strip()).first()
        if found is None:
            names = ", ".join(Sector.objects.values_list("name", flat=True))
            raise CommandError(_("No existe el sector «%(name)s». Sectores: %(names)s.") % {"name": name, "names": names})
        return found

    def report(self, batch, issues, *, dry_run, as_json):
        summary = {
            "file": batch.original_name, "dry_run": dry_run, "rows_read": batch.rows_read, "created": batch.created,
            "updated": batch.updated, "merged": batch.merged,
            "rejected": [{"row": i.row_number, "reason": i.reason} for i in issues if i.level == "rejected"],
            "doubtful": [{"row": i.row_number, "reason": i.reason} for i in issues if i.level == "doubtful"],
        }
        if as_json:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        self.stdout.write(_("Filas leídas: %(n)d") % {"n": summary["rows_read"]})
        self.stdout.write(_("Nuevas: %(created)d · actualizadas: %(updated)d · fusionadas: %(merged)d") % summary)
        self.stdout.write(_("Rechazadas: %(n)d · dudosas: %(m)d") % {"n": len(summary["rejected"]), "m": len(summary["doubtful"])})
        for kind in ("rejected", "doubtful"):
            for item in summary[kind]:
                self.stdout.write(_("  fila %(row)d: %(reason)s") % item)
        if dry_run:
            self.stdout.write(_("Simulación: no se guardó nada."))
