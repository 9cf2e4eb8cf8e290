"""ARCO requests: the list by legal due date, registering one, and the action each right calls for."""

import io
import json
import re
from datetime import datetime

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_POST
from openpyxl import Workbook

from pregonero.campaigns.models import AuditEntry

from .arco import (
    RECTIFIABLE, ArcoError, arco_create, arco_export_logged, arco_oppose, arco_rectify, arco_resolve, business_days_left,
    contact_erase, person_contacts, person_export,
)
from .exports import export_filename, xlsx_cell
from .models import ArcoRequest, Contact
from .normalize import clean_name, name_key, normalize_email, normalize_phone
from .permissions import can_edit_directory, directory_editor_required, directory_viewer_required

OPEN, DONE = ArcoRequest.Status.OPEN, ArcoRequest.Status.DONE
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AUDIT_LABELS = {
    "directory.arco.create": gettext_lazy("Registró la solicitud"),
    "directory.arco.export": gettext_lazy("Descargó los datos del titular"),
    "directory.arco.rectify": gettext_lazy("Rectificó datos"),
    "directory.arco.erase": gettext_lazy("Eliminó los datos personales"),
    "directory.arco.oppose": gettext_lazy("Dio de baja de todos los envíos"),
    "directory.arco.resolve": gettext_lazy("Marcó la solicitud como atendida"),
}


class ArcoForm(forms.Form):
    contact = forms.ModelChoiceField(
        queryset=Contact.objects.live(), widget=forms.HiddenInput,
        error_messages={"required": gettext_lazy("Elija primero al titular en el directorio."),
                        "invalid_choice": gettext_lazy("Ese contacto ya no está en el directorio (se fusionó o se "
                                                       "eliminaron sus datos).")},
    )
    kind = forms.ChoiceField(label=gettext_lazy("Derecho que ejerce"), choices=ArcoRequest.Kind.choices,
                             widget=forms.RadioSelect)
    received_on = forms.DateField(label=gettext_lazy("Fecha de recepción"),
                                  widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    description = forms.CharField(
        label=gettext_lazy("Descripción de la solicitud"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("Qué pide el titular y por qué medio llegó. No anote más datos personales de los "
                               "necesarios."),
    )

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        if received_on > timezone.localdate():
            raise ValidationError(_("La fecha de recepción no puede ser futura."))
        return received_on


class RectifyForm(forms.Form):
    honorific = forms.CharField(label=gettext_lazy("Tratamiento"), max_length=30, required=False)
    name = forms.CharField(label=gettext_lazy("Nombre"), max_length=200,
                           error_messages={"required": gettext_lazy("Escriba el nombre.")})
    position = forms.CharField(label=gettext_lazy("Cargo"), max_length=200, required=False)
    organization = forms.CharField(label=gettext_lazy("Organización"), max_length=200, required=False)
    mobile = forms.CharField(label=gettext_lazy("Celular"), max_length=40, required=False)
    email = forms.CharField(label=gettext_lazy("Correo"), max_length=254, required=False)
    resolution = forms.CharField(
        label=gettext_lazy("Respuesta al titular"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Si la deja vacía se anota qué datos se rectificaron."),
    )

    def clean_name(self):
        name = clean_name(self.cleaned_data["name"])
        if not name:
            raise ValidationError(_("Escriba el nombre."))
        return name

    def clean_mobile(self):
        raw = self.cleaned_data["mobile"].strip()
        if not raw:
            return ""
        result = normalize_phone(raw)
        if not result.e164:
            raise ValidationError(_("«%(raw)s» no es un celular válido: escriba 10 dígitos, o el número con su "
                                    "clave de país.") % {"raw": raw})
        if result.extension:
            raise ValidationError(_("Un número con extensión es de oficina; aquí va solo el celular."))
        if result.problem:
            raise ValidationError(_("Escriba un solo número de celular."))
        return result.e164

    def clean_email(self):
        raw = self.cleaned_data["email"].strip()
        result = normalize_email(raw)
        if raw and not result.email:
            raise ValidationError(_("«%(raw)s» no es un correo válido.") % {"raw": raw})
        if result.problem:
            raise ValidationError(_("Escriba un solo correo."))
        return result.email

    def values(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name != "resolution"}


def search_contacts(query: str):
    """Live contacts by name or organization (accents and honorifics ignored), e-mail or phone digits."""
    key, digits = name_key(query).split("|")[0], re.sub(r"\D", "", query)
    condition = Q(email__icontains=query)
    if key:
        condition |= Q(name_key__contains=key)
    if len(digits) >= 4:
        condition |= Q(mobile__contains=digits) | Q(office_phone__contains=digits)
    return Contact.objects.live().filter(condition).order_by("name", "pk")[:20]


class ExportEncoder(DjangoJSONEncoder):
    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # files, lazy strings and whatever a future Message field holds


def export_json(data: dict) -> bytes:
    return json.dumps(data, cls=ExportEncoder, ensure_ascii=False, indent=2).encode()


def xlsx_value(value):
    if isinstance(value, (dict, list)):
        value = json.dumps(value, cls=ExportEncoder, ensure_ascii=False)
    if isinstance(value, datetime) and value.tzinfo:
        value = timezone.localtime(value).replace(tzinfo=None)  # Excel has no time zones
    return xlsx_cell(value, phone=True)


def export_xlsx(data: dict) -> bytes:
    """One sheet per section; the first one names the person and the request."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = _("Resumen")
    for title, section in data.items():
        if not isinstance(section, list):
            summary.append([str(title), xlsx_value(section)])
            continue
        sheet = workbook.create_sheet(str(title)[:31])
        headers = list(section[0]) if section else [_("Sin registros")]
        sheet.append([str(header) for header in headers])
        for row in section:
            sheet.append([xlsx_value(row.get(header)) for header in headers])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def annotate_deadline(arco: ArcoRequest, today) -> ArcoRequest:
    arco.days_left = business_days_left(arco.due_on, today)
    arco.days_late = -arco.days_left
    arco.overdue = arco.status == OPEN and arco.due_on < today
    arco.due_soon = arco.status == OPEN and not arco.overdue and arco.days_left <= 5
    return arco


@directory_viewer_required
def arco_list(request):
    today = timezone.localdate()
    pending = [annotate_deadline(arco, today)
               for arco in ArcoRequest.objects.filter(status=OPEN).select_related("contact").order_by("due_on", "pk")]
    done = ArcoRequest.objects.filter(status=DONE).select_related("contact", "resolved_by")
    done = done.order_by("-resolved_at", "-pk")
    return render(request, "directory/arco/list.html", {
        "pending": pending, "page": Paginator(done, 25).get_page(request.GET.get("pagina")),
        "can_edit": can_edit_directory(request.user),
    })


def chosen_contact(request) -> Contact | None:
    raw = request.POST.get("contact") or request.GET.get("contacto") or ""
    return Contact.objects.live().filter(pk=int(raw)).first() if raw.isdigit() else None


@directory_editor_required
def arco_new(request):
    contact = chosen_contact(request)
    form = ArcoForm(request.POST or None, initial={"contact": contact.pk if contact else None,
                                                   "received_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            arco = arco_create(actor=request.user, contact=data["contact"], kind=data["kind"],
                               received_on=data["received_on"], description=data["description"])
        except ArcoError as error:
            form.add_error(None, str(error))
        else:
            text = _("Solicitud ARCO n.º %(n)d registrada; la fecha límite legal es el %(date)s.")
            messages.success(request, text % {"n": arco.pk, "date": arco.due_on.strftime("%d/%m/%Y")})
            return redirect("directory:arco_detail", arco.pk)
    query = request.GET.get("buscar", "").strip()[:100]
    return render(request, "directory/arco/new.html", {
        "form": form, "contact": contact, "query": query,
        "results": search_contacts(query) if query and contact is None else None,
    })


def render_detail(request, arco: ArcoRequest, rectify_form=None):
    family = person_contacts(arco.contact)
    contact, can_edit = family[0], can_edit_directory(request.user)
    if rectify_form is None and arco.kind == ArcoRequest.Kind.RECTIFICATION and arco.status == OPEN and can_edit:
        rectify_form = RectifyForm(initial={name: getattr(contact, name) for name in RECTIFIABLE})
    log = AuditEntry.objects.filter(action__startswith="directory.arco.", data__arco=arco.pk).select_related("actor")
    return render(request, "directory/arco/detail.html", {
        "arco": annotate_deadline(arco, timezone.localdate()), "contact": contact, "merged_rows": family[1:],
        "can_edit": can_edit, "rectify_form": rectify_form, "invitation_count": contact.invitations.count(),
        "log": [(entry, AUDIT_LABELS.get(entry.action, entry.action)) for entry in log],
    })


def get_arco(pk) -> ArcoRequest:
    return get_object_or_404(ArcoRequest.objects.select_related("contact", "created_by", "resolved_by"), pk=pk)


@directory_viewer_required
def arco_detail(request, pk):
    return render_detail(request, get_arco(pk))


@directory_editor_required
def arco_export(request, pk):
    arco = get_arco(pk)
    fmt = "xlsx" if request.GET.get("formato") == "xlsx" else "json"
    data = person_export(arco)
    body = export_xlsx(data) if fmt == "xlsx" else export_json(data)
    arco_export_logged(arco_request=arco, actor=request.user, fmt=fmt)
    response = HttpResponse(body, content_type=XLSX if fmt == "xlsx" else "application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(f"arco-{arco.pk}-datos", fmt)}"'
    response["Cache-Control"] = "no-store"
    return response


def run(request, action, success: str):
    """Runs one ARCO action; a refusal (already done, already erased…) is a message, never an error page."""
    try:
        action()
    except ArcoError as error:
        messages.warning(request, str(error))
    else:
        messages.success(request, success)


@directory_editor_required
@require_POST
def arco_resolve_view(request, pk):
    arco = get_arco(pk)
    resolution = request.POST.get("resolution", "")
    run(request, lambda: arco_resolve(arco_request=arco, actor=request.user, resolution=resolution),
        _("Solicitud marcada como atendida."))
    return redirect("directory:arco_detail", arco.pk)


@directory_editor_required
@require_POST
def arco_rectify_view(request, pk):
    arco = get_arco(pk)
    form = RectifyForm(request.POST)
    valid = form.is_valid()
    if arco.status == OPEN and not valid:
        return render_detail(request, arco, rectify_form=form)
    # On a request already answered the values do not matter: the service refuses before reading them.
    values, resolution = (form.values(), form.cleaned_data["resolution"]) if valid else ({}, "")
    run(request, lambda: arco_rectify(request=arco, actor=request.user, values=values, resolution=resolution),
        _("Datos rectificados; el cambio quedó en el historial del contacto."))
    return redirect("directory:arco_detail", arco.pk)


@directory_editor_required
def arco_erase_view(request, pk):
    arco = get_arco(pk)
    if request.method == "POST":
        if not request.POST.get("confirm"):
            messages.error(request, _("Marque la casilla para confirmar: la eliminación no se puede deshacer."))
            return redirect("directory:arco_erase", arco.pk)
        run(request, lambda: contact_erase(contact=arco.contact, actor=request.user, arco_request=arco),
            _("Se eliminaron los datos personales del titular. Sus respuestas a invitaciones quedan como cifras "
              "anónimas."))
        return redirect("directory:arco_detail", arco.pk)
    return render(request, "directory/arco/erase.html", {"arco": arco, "contact": person_contacts(arco.contact)[0]})


@directory_editor_required
@require_POST
def arco_oppose_view(request, pk):
    arco = get_arco(pk)
    resolution = request.POST.get("resolution", "")
    run(request, lambda: arco_oppose(arco_request=arco, actor=request.user, resolution=resolution),
        _("El titular quedó dado de baja de WhatsApp y correo."))
    return redirect("directory:arco_detail", arco.pk)


urlpatterns = [
    path("arco/", arco_list, name="arco_list"),
    path("arco/nueva/", arco_new, name="arco_new"),
    path("arco/<int:pk>/", arco_detail, name="arco_detail"),
    path("arco/<int:pk>/descargar/", arco_export, name="arco_export"),
    path("arco/<int:pk>/atender/", arco_resolve_view, name="arco_resolve"),
    path("arco/<int:pk>/rectificar/", arco_rectify_view, name="arco_rectify"),
    path("arco/<int:pk>/eliminar/", arco_erase_view, name="arco_erase"),
    path("arco/<int:pk>/baja/", arco_oppose_view, name="arco_oppose"),
]
