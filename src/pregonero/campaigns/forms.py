import uuid

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pregonero.accounts.models import Department
from pregonero.directory.models import Sector
from pregonero.sending.templates_sync import body_text, page_button_of, proof_templates, status_label

from .models import AttachmentKind, Campaign, Channel, Proof
from .placeholders import PLACEHOLDERS, unknown_placeholders
from .services import PROOF_FIELDS, NewAttachment
from .uploads import validate_upload

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def page_button_warning(template) -> str:
    """What social media should know about the template's «Ver invitación» button (the guest's page, with the
    privacy notice), or "" when it is there and points at this server."""
    found = page_button_of(template)
    if found is None:
        return _("Esta plantilla no tiene el botón «Ver invitación»: por WhatsApp, el invitado no recibirá el enlace "
                 "a su página personal ni al aviso de privacidad. Prefiera una plantilla que lo tenga.")
    if not found[1].startswith(f"{settings.SITE_URL}/i/"):
        return _("El botón «Ver invitación» de esta plantilla lleva a %(url)s, no a este servidor (%(site)s): los "
                 "invitados no llegarían a su página. Corrija la dirección de la plantilla en WhatsApp Manager.") % {
            "url": found[1], "site": settings.SITE_URL}
    return ""


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=DATETIME_FORMAT, **kwargs)


def check_placeholders(text: str) -> str:
    unknown = unknown_placeholders(text)
    if unknown:
        raise ValidationError(
            _("Marcador desconocido: %(unknown)s. Los marcadores válidos son: %(known)s.")
            % {
                "unknown": ", ".join("{%s}" % name for name in unknown),
                "known": ", ".join("{%s}" % name for name in PLACEHOLDERS),
            },
            code="placeholder",
        )
    return text


class CampaignFieldsForm(forms.ModelForm):
    """The event and message a requester describes; shared by the portal form, intake and the answer."""

    invitation_image = forms.FileField(
        label=_("Imagen de la invitación"), required=False, help_text=_("JPG o PNG."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )
    guest_list = forms.FileField(
        label=_("Lista de invitados (opcional)"), required=False, help_text=_("Excel (.xlsx, .xls), .ods o .csv."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.ods,.csv"}),
    )
    target_sectors = forms.ModelMultipleChoiceField(
        label=_("Sectores a invitar"), queryset=Sector.objects.all(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Campaign
        fields = [
            "title", "starts_at", "venue", "address", "dress_code", "rsvp_deadline", "message_text",
            "target_sectors", "notes",
        ]
        widgets = {
            "starts_at": DateTimeInput(),
            "rsvp_deadline": DateTimeInput(),
            "message_text": forms.Textarea(attrs={"rows": 5}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "message_text": _("Puede usar marcadores como {tratamiento} {nombre} {evento} {fecha} {hora} {lugar}."),
        }

    def clean_starts_at(self):
        starts_at = self.cleaned_data.get("starts_at")
        if starts_at and starts_at <= timezone.now():
            raise ValidationError(_("La fecha del evento ya pasó; indique una fecha futura."), code="past")
        return starts_at

    def clean_message_text(self):
        return check_placeholders(self.cleaned_data.get("message_text", ""))

    def clean_invitation_image(self):
        return self._validated("invitation_image", "image", AttachmentKind.INVITATION_IMAGE)

    def clean_guest_list(self):
        return self._validated("guest_list", "spreadsheet", AttachmentKind.GUEST_LIST)

    def _validated(self, field: str, family: str, kind: str):
        upload = self.cleaned_data.get(field)
        if not upload:
            return None
        return NewAttachment(kind=kind, upload=upload, accepted=validate_upload(upload, family))

    def clean(self):
        cleaned = super().clean()
        starts_at, deadline = cleaned.get("starts_at"), cleaned.get("rsvp_deadline")
        if deadline and starts_at and deadline > starts_at:
            self.add_error("rsvp_deadline", _("La fecha límite para confirmar debe ser antes del evento."))
        elif deadline and deadline <= timezone.now():
            self.add_error("rsvp_deadline", _("La fecha límite para confirmar ya pasó."))
        return cleaned

    def new_attachments(self) -> list[NewAttachment]:
        return [a for a in (self.cleaned_data.get("invitation_image"), self.cleaned_data.get("guest_list")) if a]

    def campaign_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name != "target_sectors"}


class RequestForm(CampaignFieldsForm):
    """A department's own request through the portal."""

    submission_key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)


class IntakeForm(RequestForm):
    """The assistant registers a request that arrived by oficio, e-mail or WhatsApp."""

    department = forms.ModelChoiceField(label=_("Dirección solicitante"), queryset=Department.objects.filter(is_requester=True))
    received_via = forms.ChoiceField(
        label=_("Recibida por"), choices=[c for c in Channel.choices if c[0] != Channel.PORTAL]
    )
    oficio_number = forms.CharField(label=_("Número de oficio"), max_length=60, required=False)
    received_on = forms.DateField(
        label=_("Fecha de recepción"), initial=timezone.localdate,
        # ISO, as <input type="date"> requires: the localized 26/11/2026 leaves the browser's field empty.
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    scan = forms.FileField(
        label=_("Oficio o documento escaneado"), required=False, help_text=_("PDF, JPG o PNG."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,image/jpeg,image/png"}),
    )

    field_order = ["department", "received_via", "oficio_number", "received_on", "scan"]

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        if received_on > timezone.localdate():
            raise ValidationError(_("La fecha de recepción no puede ser futura."))
        return received_on

    def clean_scan(self):
        return self._validated("scan", "document", AttachmentKind.SCAN)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("received_via") == Channel.OFICIO:
            if not cleaned.get("oficio_number"):
                self.add_error("oficio_number", _("Una solicitud por oficio necesita su número de oficio."))
            if not cleaned.get("scan") and "scan" not in self.errors:
                self.add_error("scan", _("Adjunte el escaneo del oficio."))
        return cleaned

    def new_attachments(self):
        return [a for a in (self.cleaned_data.get("scan"), *super().new_attachments()) if a]

    def campaign_fields(self):
        fields = super().campaign_fields()
        for name in ("department", "received_via", "oficio_number", "received_on"):
            fields[name] = self.cleaned_data[name]
        return fields


class AnswerForm(CampaignFieldsForm):
    """The requester completes what social media asked for."""

    answer = forms.CharField(label=_("Respuesta"), widget=forms.Textarea(attrs={"rows": 3}))
    expected_state = forms.CharField(widget=forms.HiddenInput)


class TransitionForm(forms.Form):
    comment = forms.CharField(label=_("Comentario"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    expected_state = forms.CharField(widget=forms.HiddenInput)


class ChecklistForm(forms.Form):
    """Social media's completeness check; automatic items are computed, manual ones ticked by a person."""

    comment = forms.CharField(
        label=_("Comentario para la dirección solicitante"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    expected_state = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            if row.automatic is None:
                self.fields[f"item_{row.item.pk}"] = forms.BooleanField(label=row.item.label, required=False)

    def missing(self) -> list[str]:
        return [
            str(row.item.label)
            for row in self.rows
            if row.automatic is False or (row.automatic is None and not self.cleaned_data.get(f"item_{row.item.pk}"))
        ]


class TemplateSelect(forms.Select):
    """Every synced template is listed so the person sees its status; only the sendable ones can be picked."""

    def __init__(self, *, choices, selectable):
        super().__init__(choices=choices)
        self.selectable = set(selectable)

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if value and value not in self.selectable:
            option["attrs"]["disabled"] = True
        return option


class ProofForm(forms.ModelForm):
    class Meta:
        model = Proof
        fields = list(PROOF_FIELDS)
        widgets = {
            "whatsapp_body": forms.Textarea(attrs={"rows": 8}),
            "email_body": forms.Textarea(attrs={"rows": 10}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Without a synced list the name stays free text, so an office that never synced is not blocked.
        self.templates_synced, self.templates = proof_templates()
        if self.templates_synced:
            choices = [("", _("Elija una plantilla aprobada"))]
            choices += [(t.name, f"{t.name} · {t.language} · {status_label(t.status)}") for t in self.templates]
            self.fields["whatsapp_template"].widget = TemplateSelect(
                choices=choices, selectable=[t.name for t in self.templates if t.approved])
        self.template_bodies = [(t.name, body_text(t), page_button_warning(t)) for t in self.templates]

    def clean_whatsapp_template(self):
        name = self.cleaned_data["whatsapp_template"]
        if not self.templates_synced:
            return name
        template = next((t for t in self.templates if t.name == name), None)
        if template is None:
            raise ValidationError(_("La plantilla «%(name)s» no está en la cuenta de WhatsApp. Elija una de la "
                                    "lista o actualice las plantillas."), params={"name": name}, code="template")
        if not template.approved:
            raise ValidationError(_("La plantilla «%(name)s» no se puede usar porque WhatsApp la tiene como "
                                    "«%(status)s». Elija una plantilla aprobada."),
                                  params={"name": name, "status": status_label(template.status)}, code="template")
        return name

    def clean_whatsapp_body(self):
        return check_placeholders(self.cleaned_data["whatsapp_body"])

    def clean_email_subject(self):
        return check_placeholders(self.cleaned_data["email_subject"])

    def clean_email_body(self):
        return check_placeholders(self.cleaned_data["email_body"])
