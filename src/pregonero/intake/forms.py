from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from pregonero.campaigns.forms import CampaignFieldsForm, IntakeForm
from pregonero.campaigns.models import AttachmentKind
from pregonero.campaigns.uploads import SPREADSHEET_TYPES

from .models import Draft, IncomingAttachment, plain_subject

NOTES_LIMIT = 4000  # the observations start from the messages' text; the full text stays on the draft


def guessed_kind(attachment: IncomingAttachment) -> str:
    """What a file most likely is, so the usual case needs no change: the channel's guess, else its type."""
    if attachment.kind in AttachmentKind.values:
        return attachment.kind
    content_type = attachment.content_type.split(";")[0].strip().lower()
    if content_type.startswith("image/"):
        return AttachmentKind.INVITATION_IMAGE
    if content_type == "application/pdf":
        return AttachmentKind.SCAN
    if content_type in SPREADSHEET_TYPES.values():
        return AttachmentKind.GUEST_LIST
    return ""


def initial_from(draft: Draft, messages) -> dict:
    first_line = next((line.strip() for m in messages for line in m.body.splitlines() if line.strip()), "")
    notes = "\n\n".join(m.body.strip() for m in messages if m.body.strip())
    return {
        "title": (plain_subject(draft.subject) or first_line)[:200],
        "department": draft.department_id,
        "received_on": timezone.localdate(draft.received_at),
        "notes": notes[:NOTES_LIMIT],
    }


class CarriedFilesMixin:
    """A checkbox and a kind for each file of the draft's messages (`attachment_rows`)."""

    def add_attachment_fields(self, attachments):
        self.attachment_rows = []
        for attachment in attachments:
            guess = guessed_kind(attachment)
            carry, kind = f"carry_{attachment.pk}", f"kind_{attachment.pk}"
            self.fields[carry] = forms.BooleanField(label=attachment.original_name, required=False, initial=bool(guess))
            # Not required: a file that arrived after the page was shown has no choice in the form (the
            # registration then stops on it, see services.draft_register's ``seen``).
            self.fields[kind] = forms.ChoiceField(label=_("como"), choices=AttachmentKind.choices,
                                                  initial=guess or AttachmentKind.SCAN, required=False)
            self.attachment_rows.append((attachment, self[carry], self[kind]))

    def clean_attachment_rows(self, cleaned):
        for attachment, carry, kind in self.attachment_rows:
            if cleaned.get(carry.name) and not cleaned.get(kind.name) and kind.name not in self.errors:
                self.add_error(None, _("Diga qué es «%(name)s» (oficio, invitación o lista) o no lo pase.")
                               % {"name": attachment.original_name})

    def attachment_choices(self) -> list[tuple[int, str]]:
        return [(attachment.pk, self.cleaned_data[kind.name])
                for attachment, carry, kind in self.attachment_rows if self.cleaned_data.get(carry.name)]


class DraftRegisterForm(CarriedFilesMixin, IntakeForm):
    """The oficio registration form, prefilled from what arrived. The channel is the draft's own; the files come
    from the messages (a checkbox and a kind for each) besides any uploaded here. ``sender``
    (services.SenderStatus) offers to remember the sender for the chosen department."""

    def __init__(self, *args, draft: Draft, messages, attachments, sender=None, **kwargs):
        kwargs.setdefault("initial", initial_from(draft, messages))
        super().__init__(*args, **kwargs)
        del self.fields["received_via"], self.fields["scan"]
        self.add_attachment_fields(attachments)
        self.sender = sender
        # Kept when the page offered it but the sender became known meanwhile: the service then says so.
        if sender is not None and (sender.offer or (self.is_bound and "remember_sender" in self.data)):
            self.fields["remember_sender"] = forms.BooleanField(
                label=_("Recordar este remitente (%(address)s) para la dirección elegida")
                % {"address": draft.sender_address}, required=False,
                help_text=_("Sus próximos mensajes llegarán a nombre de esa dirección."))

    def clean(self):
        cleaned = super().clean()
        self.clean_attachment_rows(cleaned)
        return cleaned

    def campaign_fields(self) -> dict:
        fields = CampaignFieldsForm.campaign_fields(self)
        fields.update({name: self.cleaned_data[name] for name in ("department", "oficio_number", "received_on")})
        return fields


class MergeForm(forms.Form):
    drafts = forms.ModelMultipleChoiceField(
        label=_("Unir a esta solicitud"), queryset=Draft.objects.none(), widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Elija al menos otra solicitud por registrar para unirla a esta."),
            "invalid_choice": _("Una de las solicitudes elegidas ya no está por registrar (alguien más actuó "
                                "antes); revise la lista."),
        },
    )

    def __init__(self, *args, draft: Draft, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["drafts"]
        field.queryset = Draft.objects.filter(status=Draft.Status.OPEN).exclude(pk=draft.pk)
        field.label_from_instance = merge_label


def merge_label(draft: Draft) -> str:
    when = formats.date_format(timezone.localtime(draft.received_at), "SHORT_DATETIME_FORMAT")
    return f"{draft.subject or _('(sin asunto)')} · {draft.sender_name or draft.sender_address} · {when}"


class DiscardForm(forms.Form):
    reason = forms.CharField(
        label=_("Motivo del descarte (obligatorio)"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Escriba el motivo del descarte: queda en el registro.")},
    )


class FollowUpForm(CarriedFilesMixin, forms.Form):
    """"Agregar a la solicitud RP-…": which files of the draft go to the request it follows up."""

    def __init__(self, *args, attachments, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_attachment_fields(attachments)

    def clean(self):
        cleaned = super().clean()
        self.clean_attachment_rows(cleaned)
        return cleaned
