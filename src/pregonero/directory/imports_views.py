"""Importing spreadsheets: upload, confirm the columns with a preview, follow the progress, read the result."""

import tempfile

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path
from django.utils.translation import gettext as _, gettext_lazy
from openpyxl import Workbook

from .exports import neutralise
from .import_pipeline import read_progress
from .importer import import_confirm, import_prepare, import_preview
from .models import ImportBatch, Sector
from .permissions import directory_editor_required
from .readers import FIELD_LABELS, UnreadableFile

SKIP = ""
REPEATABLE = {"tags", "sector", "notes"}


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Archivo"), help_text=gettext_lazy("Excel (.xlsx, .xls), .ods o .csv."),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.ods,.csv"}))
    default_sector = forms.ModelChoiceField(
        label=gettext_lazy("Sector para las filas sin sector"), queryset=Sector.objects.all(), required=False
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise ValidationError(_("El archivo pesa %(size)s; el máximo es %(limit)s.") % {
                "size": filesizeformat(upload.size), "limit": filesizeformat(settings.IMPORT_MAX_BYTES)})
        return upload


class MappingForm(forms.Form):
    """One choice per column of the file: which contact field it holds, or nothing."""

    def __init__(self, *args, header, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(SKIP, _("— no importar —")), *((k, v) for k, v in FIELD_LABELS.items())]
        for index, title in enumerate(header):
            self.fields[f"col_{index}"] = forms.ChoiceField(label=title or _("(columna %(n)d)") % {"n": index + 1},
                                                            choices=choices, required=False)

    def mapping(self) -> dict[int, str]:
        return {int(name[4:]): value for name, value in self.cleaned_data.items() if value}

    def clean(self):
        cleaned = super().clean()
        chosen = [value for value in cleaned.values() if value]
        repeated = {v for v in chosen if chosen.count(v) > 1 and v not in REPEATABLE}
        if repeated:
            raise ValidationError(_("Cada dato va en una sola columna; se repite: %(fields)s.") % {
                "fields": ", ".join(str(FIELD_LABELS[v]) for v in sorted(repeated))})
        if not {"name", "first_name", "last_name"} & set(chosen):
            raise ValidationError(_("Indique qué columna tiene el nombre."))
        if not {"mobile", "email", "office_phone"} & set(chosen):
            raise ValidationError(_("Indique al menos una columna de celular, teléfono o correo."))
        return cleaned


@directory_editor_required
def import_list(request):
    page = Paginator(ImportBatch.objects.select_related("uploaded_by", "campaign"), 25).get_page(request.GET.get("pagina"))
    return render(request, "directory/imports/list.html", {"page": page})


@directory_editor_required
def import_new(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = import_prepare(file=upload, filename=upload.name, actor=request.user,
                                   default_sector=form.cleaned_data["default_sector"])
        except UnreadableFile as error:
            form.add_error("file", str(error))
        else:
            return redirect("directory:import_mapping", batch.public_id)
    return render(request, "directory/imports/new.html", {"form": form})


def batch_or_404(public_id) -> ImportBatch:
    return get_object_or_404(ImportBatch.objects.select_related("default_sector", "campaign"), public_id=public_id)


@directory_editor_required
def import_mapping(request, public_id):
    batch = batch_or_404(public_id)
    if batch.status != ImportBatch.Status.MAPPING:
        return redirect("directory:import_detail", batch.public_id)
    initial = {f"col_{index}": name for index, name in batch.mapping.items()}
    form = MappingForm(request.POST or None, header=batch.header, initial=initial)
    mapping = {int(index): name for index, name in batch.mapping.items()}
    if request.method == "POST" and form.is_valid():
        mapping = form.mapping()
        if "import" in request.POST:
            import_confirm(batch=batch, mapping=mapping, actor=request.user)
            messages.success(request, _("Importación en marcha: puede seguir trabajando mientras termina."))
            return redirect("directory:import_detail", batch.public_id)
    try:
        preview = import_preview(batch, mapping)
    except UnreadableFile as error:
        messages.error(request, str(error))
        preview = []
    context = {"batch": batch, "form": form, "preview": preview, "labels": FIELD_LABELS}
    return render(request, "directory/imports/mapping.html", context)


@directory_editor_required
def import_detail(request, public_id):
    batch = batch_or_404(public_id)
    issues = Paginator(batch.issues.all(), 100).get_page(request.GET.get("pagina"))
    return render(request, "directory/imports/detail.html", {"batch": batch, "page": issues})


@directory_editor_required
def import_status(request, public_id):
    batch = batch_or_404(public_id)
    live = read_progress(batch.public_id) if batch.status == ImportBatch.Status.RUNNING else None
    progress = live or {"done": batch.progress_done, "total": batch.progress_total, "phase": batch.phase}
    return JsonResponse({
        "status": batch.status, "status_label": batch.get_status_display(), **progress,
        "finished": batch.status in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED),
    })


@directory_editor_required
def import_report(request, public_id):
    """Every rejected or doubtful row, with its row number and reason, as a spreadsheet."""
    batch = batch_or_404(public_id)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Filas con observaciones"))
    sheet.append([_("Fila"), _("Resultado"), _("Motivo"), *[neutralise(h) for h in batch.header]])
    for item in batch.issues.iterator(chunk_size=2000):
        sheet.append([item.row_number, item.get_level_display(), neutralise(item.reason), *map(neutralise, item.values)])
    output = tempfile.TemporaryFile()
    workbook.save(output)
    output.seek(0)
    name = _("observaciones-%(file)s.xlsx") % {"file": batch.original_name.rsplit(".", 1)[0][:80]}
    return FileResponse(output, as_attachment=True, filename=name)


urlpatterns = [
    path("importaciones/", import_list, name="imports"),
    path("importaciones/nueva/", import_new, name="import_new"),
    path("importaciones/<uuid:public_id>/columnas/", import_mapping, name="import_mapping"),
    path("importaciones/<uuid:public_id>/", import_detail, name="import_detail"),
    path("importaciones/<uuid:public_id>/estado/", import_status, name="import_status"),
    path("importaciones/<uuid:public_id>/observaciones.xlsx", import_report, name="import_report"),
]
