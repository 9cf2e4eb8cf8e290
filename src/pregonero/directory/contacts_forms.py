"""Forms of the contact pages: the list's filters, and a contact's create/edit form with the opt-out rule.

The opt-out rule: staff may record an opt-out at any time (a guest asked by phone), but only a new consent
from the person can lift it, so unticking "no desea WhatsApp/correo" requires the new consent's source and
date. They become the contact's consent (basis "consentimiento"), and the edit is kept in the contact's history.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy

from .models import Contact, Sector, Tag
from .normalize import normalize_email, normalize_phone

YES, NO = "si", "no"
TRI_STATE = [("", gettext_lazy("Todos")), (YES, gettext_lazy("Sí")), (NO, gettext_lazy("No"))]
SEARCH_TERM_HIDDEN = "[oculto: contiene números o un correo]"


def _tri(value: str) -> bool | None:
    return {YES: True, NO: False}.get(value)


class ContactFilterForm(forms.Form):
    """GET filters shared by the list and the export (parameter names are the Spanish ones in the URL)."""

    q = forms.CharField(label=gettext_lazy("Buscar"), required=False, max_length=200)
    sector = forms.ModelChoiceField(label=gettext_lazy("Sector"), queryset=Sector.objects.all(), required=False,
                                    empty_label=gettext_lazy("Todos"))
    etiqueta = forms.ModelChoiceField(label=gettext_lazy("Etiqueta"), queryset=Tag.objects.all(), required=False,
                                      empty_label=gettext_lazy("Todas"))
    organizacion = forms.CharField(label=gettext_lazy("Organización"), required=False, max_length=200)
    whatsapp = forms.ChoiceField(label=gettext_lazy("Se le puede enviar WhatsApp"), choices=TRI_STATE, required=False)
    correo = forms.ChoiceField(label=gettext_lazy("Se le puede enviar correo"), choices=TRI_STATE, required=False)
    baja = forms.ChoiceField(label=gettext_lazy("Pidió la baja (algún canal)"), choices=TRI_STATE, required=False)

    def filters(self) -> dict:
        """Keyword arguments for selectors.contacts_filtered, from the fields that were valid."""
        data = getattr(self, "cleaned_data", {})
        return {
            "q": data.get("q", ""), "sector": data.get("sector"), "tag": data.get("etiqueta"),
            "organization": data.get("organizacion", ""), "whatsapp": _tri(data.get("whatsapp", "")),
            "email": _tri(data.get("correo", "")), "opted_out": _tri(data.get("baja", "")),
        }

    def describe(self) -> dict:
        """The filters for the audit log; a search with digits or "@" may be a person's number or e-mail."""
        data = getattr(self, "cleaned_data", {})
        described = {key: str(value) for key, value in data.items() if value not in ("", None)}
        q = described.get("q", "")
        if any(ch.isdigit() or ch == "@" for ch in q):
            described["q"] = SEARCH_TERM_HIDDEN
        return described


def split_tags(text: str) -> list[str]:
    """"Prensa, VIP,prensa" -> ["Prensa", "VIP"]: trimmed, first spelling wins."""
    seen, names = set(), []
    for part in text.split(","):
        name = " ".join(part.split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


class ContactForm(forms.Form):
    honorific = forms.CharField(label=gettext_lazy("Tratamiento"), required=False, max_length=30,
                                help_text=gettext_lazy("Lic., Ing., Dra., C.…"))
    name = forms.CharField(label=gettext_lazy("Nombre"), max_length=200)
    position = forms.CharField(label=gettext_lazy("Cargo"), required=False, max_length=200)
    organization = forms.CharField(label=gettext_lazy("Organización"), required=False, max_length=200)
    sectors = forms.ModelMultipleChoiceField(label=gettext_lazy("Sectores"), queryset=Sector.objects.all(),
                                             required=False, widget=forms.CheckboxSelectMultiple)
    tags = forms.CharField(label=gettext_lazy("Etiquetas"), required=False, max_length=500,
                           help_text=gettext_lazy("Separadas por comas; las nuevas se crean."))
    mobile = forms.CharField(label=gettext_lazy("Celular"), required=False, max_length=40,
                             help_text=gettext_lazy("El único número al que se envía WhatsApp. 10 dígitos o con +código de país."))
    office_phone = forms.CharField(label=gettext_lazy("Teléfono de oficina"), required=False, max_length=40,
                                   help_text=gettext_lazy("Nunca recibe WhatsApp."))
    office_extension = forms.CharField(label=gettext_lazy("Extensión"), required=False, max_length=10)
    email = forms.CharField(label=gettext_lazy("Correo"), required=False, max_length=254)
    consent_basis = forms.ChoiceField(
        label=gettext_lazy("Base del tratamiento"), required=False, choices=[("", "—"), *Contact.ConsentBasis.choices],
        help_text=gettext_lazy("Vacío en un contacto nuevo: consentimiento tácito (cada mensaje lleva el aviso de "
                               "privacidad y la forma de darse de baja)."))
    consent_source = forms.CharField(label=gettext_lazy("Origen del consentimiento"), required=False, max_length=200)
    consent_date = forms.DateField(label=gettext_lazy("Fecha del consentimiento"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    notes = forms.CharField(label=gettext_lazy("Notas"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    whatsapp_opt_out = forms.BooleanField(label=gettext_lazy("No desea recibir WhatsApp"), required=False)
    email_opt_out = forms.BooleanField(label=gettext_lazy("No desea recibir correo"), required=False)
    opt_out_source = forms.CharField(
        label=gettext_lazy("¿Cómo pidió la baja?"), required=False, max_length=200,
        help_text=gettext_lazy("Solo si marca una baja nueva; p. ej. «Llamó por teléfono el 3 de marzo»."),
    )
    renewed_consent_source = forms.CharField(
        label=gettext_lazy("Nuevo consentimiento: fuente"), required=False, max_length=200,
        help_text=gettext_lazy("Obligatorio para quitar una baja: cómo dio la persona su nuevo consentimiento."),
    )
    renewed_consent_date = forms.DateField(
        label=gettext_lazy("Nuevo consentimiento: fecha"), required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    OPT_OUT_FIELDS = {"whatsapp_opt_out": "whatsapp", "email_opt_out": "email"}
    VALUE_FIELDS = ("honorific", "name", "position", "organization", "mobile", "office_phone", "office_extension",
                    "email", "consent_basis", "consent_source", "consent_date", "notes")

    def __init__(self, *args, contact: Contact | None = None, **kwargs):
        self.contact = contact
        if contact is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(contact)
        super().__init__(*args, **kwargs)

    @classmethod
    def initial_for(cls, contact: Contact) -> dict:
        initial = {name: getattr(contact, name) for name in (*cls.VALUE_FIELDS, *cls.OPT_OUT_FIELDS)}
        initial["sectors"] = list(contact.sectors.all())
        initial["tags"] = ", ".join(tag.name for tag in contact.tags.all())
        return initial

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Escriba el nombre."))
        return name

    def clean_mobile(self):
        result = normalize_phone(self.cleaned_data["mobile"])
        if result.problem:
            raise ValidationError(result.problem)
        if result.extension:
            raise ValidationError(_("Un celular no lleva extensión: escriba ese número como teléfono de oficina."))
        return result.e164

    def clean_office_phone(self):
        result = normalize_phone(self.cleaned_data["office_phone"], office_column=True)
        if result.problem:
            raise ValidationError(result.problem)
        self.office_phone_extension = result.extension
        return result.e164

    def clean_email(self):
        result = normalize_email(self.cleaned_data["email"])
        if result.problem:
            raise ValidationError(result.problem)
        return result.email

    def clean_tags(self):
        names = split_tags(self.cleaned_data["tags"])
        too_long = [name for name in names if len(name) > Tag._meta.get_field("name").max_length]
        if too_long:
            raise ValidationError(_("Etiqueta demasiado larga: «%(tag)s».") % {"tag": too_long[0][:80]})
        return names

    def clean_renewed_consent_date(self):
        date = self.cleaned_data["renewed_consent_date"]
        if date and date > timezone.localdate():
            raise ValidationError(_("La fecha del nuevo consentimiento no puede ser futura."))
        return date

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("office_extension") and getattr(self, "office_phone_extension", ""):
            cleaned["office_extension"] = self.office_phone_extension  # "998 881 2800 ext. 214"
        if self.lifted_opt_outs():
            self._require_renewed_consent(cleaned)
        return cleaned

    def _require_renewed_consent(self, cleaned):
        message = _("Para quitar una baja hace falta el nuevo consentimiento de la persona: fuente y fecha.")
        if not (cleaned.get("renewed_consent_source") or "").strip():
            self.add_error("renewed_consent_source", message)
        if not cleaned.get("renewed_consent_date") and "renewed_consent_date" not in self.errors:
            self.add_error("renewed_consent_date", message)

    def _opt_out_changes(self, before: bool, after: bool) -> list[str]:
        data = getattr(self, "cleaned_data", {})
        was = {field: getattr(self.contact, field) if self.contact else False for field in self.OPT_OUT_FIELDS}
        return [channel for field, channel in self.OPT_OUT_FIELDS.items()
                if was[field] is before and bool(data.get(field)) is after]

    def lifted_opt_outs(self) -> list[str]:
        """Channels whose opt-out the form removes: "whatsapp", "email"."""
        return self._opt_out_changes(True, False)

    def added_opt_outs(self) -> list[str]:
        return self._opt_out_changes(False, True)

    def values(self) -> dict:
        """Contact fields for services.contact_create / contact_update (opt-outs are handled apart)."""
        values = {name: self.cleaned_data[name] for name in self.VALUE_FIELDS}
        lifted = self.lifted_opt_outs()
        if lifted:
            values.update({f"{channel}_opt_out": False for channel in lifted})
            values.update(consent_basis=Contact.ConsentBasis.CONSENT,
                          consent_source=self.cleaned_data["renewed_consent_source"].strip(),
                          consent_date=self.cleaned_data["renewed_consent_date"])
            still_out = {"whatsapp", "email"} - set(lifted)
            if not any(getattr(self.contact, f"{channel}_opt_out") for channel in still_out):
                values["opted_out_at"] = None
        return values
