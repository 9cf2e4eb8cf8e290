"""The directory's contact pages: counts for everyone, the list and a contact's page for viewers, create/edit,
exports, and the duplicate review queue for the database team."""

from datetime import timedelta

import phonenumbers
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import BooleanField
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pregonero.campaigns.services import audit_log

from . import exports, selectors, services
from .contacts_forms import ContactFilterForm, ContactForm
from .models import Contact, ContactEvent, DuplicateCandidate, Tag
from .permissions import can_edit_directory, can_see_directory, directory_editor_required, directory_viewer_required

PAGE_SIZE = 50
DUPLICATES_PAGE_SIZE = 20
RESUBMIT_WINDOW_SECONDS = 120


def mask_phone(e164: str) -> str:
    """"+529981234567" -> "+52 998 *** 4567": enough to tell numbers apart on a list, not to dial them."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "***"
    national = str(number.national_number)
    if len(national) < 8:
        return f"+{number.country_code} *** {national[-2:]}"
    return f"+{number.country_code} {national[:3]} *** {national[-4:]}"


# --------------------------------------------------------------------------- index, counts and list


@login_required
def directory_index(request):
    if can_see_directory(request.user):
        return contact_list(request)
    return directory_summary(request)


@login_required
def directory_summary(request):
    """Counts only, for everyone in the office: no names, numbers or addresses."""
    return render(request, "directory/contacts/summary.html", {
        "counts": selectors.directory_counts(), "show_subnav": can_see_directory(request.user),
    })


@directory_viewer_required
def contact_list(request):
    form = ContactFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        messages.error(request, _("Algún filtro no es válido; se aplicaron solo los demás."))
    contacts = selectors.with_labels(selectors.contacts_filtered(**form.filters()))
    # One COUNT(*) for the whole request: the paginator caches it and the template reads it from there.
    page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("pagina"))
    for contact in page.object_list:
        contact.masked_mobile = mask_phone(contact.mobile)
    return render(request, "directory/contacts/list.html", {
        "form": form, "page": page, "can_edit": can_edit_directory(request.user),
    })


# --------------------------------------------------------------------------- one contact


def contact_or_404(pk: int) -> Contact:
    try:
        return selectors.contact_for_page(pk)
    except Contact.DoesNotExist:
        raise Http404(_("No existe ese contacto.")) from None


FIELDS = {field.name: field for field in Contact._meta.get_fields() if hasattr(field, "verbose_name")}


def field_label(name: str) -> str:
    field = FIELDS.get(name)
    return str(capfirst(field.verbose_name)) if field else name


def readable(name: str, value: str) -> str:
    """A value as history stores it (text; False was stored as ""), as a person reads it."""
    if isinstance(FIELDS.get(name), BooleanField):
        return _("Sí") if value == "True" else _("No")
    return value or "—"


def describe_event(event: ContactEvent) -> list[str]:
    """The lines a person reads under one history entry."""
    data = event.data or {}
    lines = [
        _("%(field)s: %(old)s → %(new)s") % {"field": field_label(name), "old": readable(name, old),
                                             "new": readable(name, new)}
        for name, (old, new) in (data.get("changes") or {}).items()
    ]
    if data.get("filled"):
        lines.append(_("Completó: %(fields)s") % {"fields": ", ".join(field_label(n).lower() for n in data["filled"])})
    if data.get("channels"):
        lines.append(_("Canales: %(channels)s") % {"channels": ", ".join(field_label(c) for c in data["channels"])})
    for key, label in (("source", _("Origen")), ("provenance", _("Procedencia")), ("reason", _("Motivo"))):
        if data.get(key):
            lines.append(f"{label}: {data[key]}")
    return lines


@directory_viewer_required
def contact_detail(request, pk):
    contact = contact_or_404(pk)
    history = selectors.contact_history(contact)
    for event in history:
        event.lines = describe_event(event)
    return render(request, "directory/contacts/detail.html", {
        "contact": contact, "history": history, "invitations": selectors.contact_invitations(contact),
        "can_edit": can_edit_directory(request.user) and contact.merged_into_id is None and contact.erased_at is None,
    })


def tags_named(names: list[str]) -> list[Tag]:
    """Existing tags matched without regard to case; new names become new tags."""
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first() or Tag.objects.get_or_create(name=name)[0]
        tags.append(tag)
    return tags


def opt_out_source(form: ContactForm, actor) -> str:
    written = form.cleaned_data["opt_out_source"].strip()
    return written or _("Registrada por el personal (%(user)s)") % {"user": actor.get_username()}


def recent_twin(actor, values: dict) -> Contact | None:
    """The same contact saved by the same person a moment ago: a double click or a resubmitted form."""
    since = timezone.now() - timedelta(seconds=RESUBMIT_WINDOW_SECONDS)
    same = {key: values[key] for key in ("name", "organization", "mobile", "email")}
    return Contact.objects.live().filter(created_by=actor, created_at__gte=since, **same).order_by("-pk").first()


@directory_editor_required
def contact_new(request):
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # Serialises one person's own submits, so a double click finds the first contact instead of a twin.
            get_user_model().objects.select_for_update().filter(pk=request.user.pk).first()
            contact = recent_twin(request.user, form.values())
            if contact is not None:
                messages.info(request, _("Este contacto ya se había guardado."))
                return redirect("directory:contact", pk=contact.pk)
            contact = services.contact_create(
                actor=request.user, values=form.values(), sectors=form.cleaned_data["sectors"],
                tags=tags_named(form.cleaned_data["tags"]), provenance=_("Captura manual"),
            )
            if form.added_opt_outs():
                services.contact_opt_out(contact=contact, actor=request.user, **_channels(form.added_opt_outs()),
                                         source=opt_out_source(form, request.user))
        messages.success(request, _("Contacto guardado."))
        return redirect("directory:contact", pk=contact.pk)
    return render(request, "directory/contacts/form.html", {"form": form, "contact": None})


def _channels(channels: list[str]) -> dict:
    return {"whatsapp": "whatsapp" in channels, "email": "email" in channels}


def refuse_edit_message(contact: Contact) -> str | None:
    if contact.erased_at:
        return _("Los datos de este contacto se eliminaron (ARCO); ya no se editan.")
    if contact.merged_into_id:
        return _("Este contacto se fusionó en otro; edite el contacto que se conservó.")
    return None


@directory_editor_required
def contact_edit(request, pk):
    contact = contact_or_404(pk)
    refusal = refuse_edit_message(contact)
    if refusal:
        messages.error(request, refusal)
        return redirect("directory:contact", pk=(contact.merged_into_id or contact.pk))
    if request.method != "POST":
        return render(request, "directory/contacts/form.html", {"form": ContactForm(contact=contact), "contact": contact})
    with transaction.atomic():
        # Checked against the row as it is now, so a concurrent edit cannot slip an opt-out past the rule.
        locked = Contact.objects.select_for_update().get(pk=pk)
        form = ContactForm(request.POST, contact=locked)
        if form.is_valid():
            services.contact_update(contact=locked, actor=request.user, values=form.values(),
                                    sectors=form.cleaned_data["sectors"], tags=tags_named(form.cleaned_data["tags"]))
            if form.added_opt_outs():
                services.contact_opt_out(contact=locked, actor=request.user, **_channels(form.added_opt_outs()),
                                         source=opt_out_source(form, request.user))
            messages.success(request, _("Cambios guardados."))
            return redirect("directory:contact", pk=pk)
    return render(request, "directory/contacts/form.html", {"form": form, "contact": contact})


# --------------------------------------------------------------------------- export


@require_GET
@directory_viewer_required
def contact_export(request):
    fmt = request.GET.get("formato", "xlsx")
    form = ContactFilterForm(request.GET)
    back = reverse("directory:contacts") + "?" + request.GET.urlencode()
    if fmt not in exports.FORMATS:
        messages.error(request, _("Formato desconocido; elija Excel (.xlsx) o CSV."))
        return redirect(back)
    if not form.is_valid():
        # Never export more than the person asked for because one filter was unreadable.
        messages.error(request, _("Algún filtro no es válido; corríjalo antes de descargar."))
        return redirect(back)
    rows = exports.contacts_for_export(selectors.contacts_filtered(**form.filters()))
    output, count = exports.FORMATS[fmt](rows, exports.contact_columns())
    audit_log(campaign=None, actor=request.user, action="directory.export",
              data={"rows": count, "format": fmt, "filters": form.describe()})
    return FileResponse(output, as_attachment=True, filename=exports.export_filename("directorio", fmt))


# --------------------------------------------------------------------------- duplicates

DUPLICATE_ACTIONS = {"keep_contact", "keep_other", "dismiss"}


@directory_viewer_required
def duplicate_queue(request):
    page = Paginator(selectors.pending_duplicates(), DUPLICATES_PAGE_SIZE).get_page(request.GET.get("pagina"))
    return render(request, "directory/contacts/duplicates.html", {
        "page": page, "can_edit": can_edit_directory(request.user),
    })


def _already_resolved(candidate: DuplicateCandidate) -> str:
    who = candidate.resolved_by.get_username() if candidate.resolved_by else _("otra persona")
    return _("Este par ya se había resuelto («%(status)s», %(who)s); no se hizo nada más.") % {
        "status": candidate.get_status_display(), "who": who}


def duplicate_resolve_locked(*, pk: int, action: str, actor) -> tuple[int, str]:
    """Merges or dismisses one pending pair; returns (message level, message). Safe to run twice at once:
    the pair row is locked and its status re-read, so the second request only reports what the first did."""
    with transaction.atomic():
        candidate = DuplicateCandidate.objects.select_for_update(of=("self",)).select_related("resolved_by").filter(pk=pk).first()
        if candidate is None:
            return messages.ERROR, _("Ese par ya no existe.")
        if candidate.status != DuplicateCandidate.Status.PENDING:
            return messages.INFO, _already_resolved(candidate)
        if action == "dismiss":
            candidate.status = DuplicateCandidate.Status.DISMISSED
            candidate.resolved_by, candidate.resolved_at = actor, timezone.now()
            candidate.save(update_fields=["status", "resolved_by", "resolved_at"])
            return messages.SUCCESS, _("Marcados como personas distintas.")
        ids = [candidate.contact_id, candidate.other_id]
        pair = Contact.objects.select_for_update().in_bulk(ids)
        keep, absorb = (pair[ids[0]], pair[ids[1]]) if action == "keep_contact" else (pair[ids[1]], pair[ids[0]])
        if any(c.merged_into_id or c.erased_at for c in (keep, absorb)):
            return messages.ERROR, _("Uno de los dos contactos ya se fusionó o se eliminó; revise sus páginas.")
        services.contact_merge(keep=keep, absorb=absorb, actor=actor,
                               reason=_("Revisión de duplicados: %(reason)s") % {"reason": candidate.reason})
        return messages.SUCCESS, _("Se fusionó «%(absorb)s» en «%(keep)s».") % {"absorb": absorb, "keep": keep}


@require_POST
@directory_editor_required
def duplicate_resolve(request, pk):
    action = request.POST.get("action", "")
    if action not in DUPLICATE_ACTIONS:
        messages.error(request, _("Acción desconocida."))
    else:
        level, text = duplicate_resolve_locked(pk=pk, action=action, actor=request.user)
        messages.add_message(request, level, text)
    return redirect(reverse("directory:duplicates") + ("?pagina=" + request.POST["pagina"]
                                                       if request.POST.get("pagina", "").isdigit() else ""))


urlpatterns = [
    path("", directory_index, name="index"),
    path("resumen/", directory_summary, name="summary"),
    path("contactos/", contact_list, name="contacts"),
    path("contactos/nuevo/", contact_new, name="contact_new"),
    path("contactos/descargar/", contact_export, name="export"),
    path("contactos/<int:pk>/", contact_detail, name="contact"),
    path("contactos/<int:pk>/editar/", contact_edit, name="contact_edit"),
    path("duplicados/", duplicate_queue, name="duplicates"),
    path("duplicados/<int:pk>/", duplicate_resolve, name="duplicate_resolve"),
]
