"""Guest list pages: the database team builds and confirms a campaign's list (the Director may consult it), and
step 7 shares it with the requesting department."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_POST

from pregonero.campaigns.models import Campaign

from . import guestlist_sharing as sharing
from . import guestlists as lists
from .models import Contact, ImportBatch, Sector, Tag
from .permissions import can_edit_directory, can_see_directory, directory_editor_required, directory_viewer_required
from .readers import UnreadableFile
from .selectors import contact_search

PAGE_SIZE = 50
SEARCH_LIMIT = 20


class RulesForm(forms.Form):
    include_sectors = forms.ModelMultipleChoiceField(
        Sector.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label=gettext_lazy("Sectores incluidos"))
    exclude_sectors = forms.ModelMultipleChoiceField(
        Sector.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label=gettext_lazy("Sectores excluidos"))
    include_tags = forms.ModelMultipleChoiceField(
        Tag.objects.all(), required=False, label=gettext_lazy("Etiquetas incluidas"),
        help_text=gettext_lazy("Ctrl o ⌘ + clic para elegir varias."))
    exclude_tags = forms.ModelMultipleChoiceField(
        Tag.objects.all(), required=False, label=gettext_lazy("Etiquetas excluidas"))

    def clean(self):
        data = super().clean()
        for kind, label in (("sectors", _("sector")), ("tags", _("etiqueta"))):
            both = set(data.get(f"include_{kind}") or ()) & set(data.get(f"exclude_{kind}") or ())
            if both:
                raise ValidationError(_("No puede incluir y excluir a la vez: %(names)s (%(kind)s).") % {
                    "names": ", ".join(sorted(item.name for item in both)), "kind": label})
        return data


def campaign_or_404(folio: str) -> Campaign:
    try:
        return Campaign.objects.select_related("department").get(folio=folio)
    except Campaign.DoesNotExist:
        raise Http404(_("No existe la solicitud %(folio)s.") % {"folio": folio}) from None


def rules_initial(guest_list) -> dict:
    return {name: getattr(guest_list, name).all() for name in RulesForm.base_fields}


def search_results(guest_list, query: str) -> list[Contact]:
    """Live contacts matching the search, each marked if already a guest (two queries)."""
    if not query.strip():
        return []
    found = list(contact_search(Contact.objects.live(), query).order_by("name", "pk")[:SEARCH_LIMIT])
    guests = set(lists.guest_queryset(guest_list).filter(pk__in=[c.pk for c in found]).values_list("pk", flat=True))
    for contact in found:
        contact.is_guest = contact.pk in guests
    return found


def left_out_page(guest_list, number):
    page = Paginator(lists.left_out_queryset(guest_list), PAGE_SIZE).get_page(number)
    for contact in page.object_list:
        contact.reason = lists.REASONS[contact.guest_status]
    return page


@directory_viewer_required
def guest_list_page(request, folio):
    campaign = campaign_or_404(folio)
    guest_list = lists.guest_list_for(campaign)
    editable = can_edit_directory(request.user) and not guest_list.frozen_at and campaign.is_open
    # Once the send started, Base de Datos may still add a guest; Redes Sociales sends it with a resend.
    late = can_edit_directory(request.user) and bool(guest_list.frozen_at) and campaign.state in lists.LATE_STATES
    guests = lists.guest_queryset(guest_list).prefetch_related("sectors", "tags")
    query = request.GET.get("buscar", "")
    return render(request, "directory/guestlists/page.html", {
        "campaign": campaign, "guest_list": guest_list, "editable": editable, "late": late,
        "summary": lists.guest_summary(guest_list),
        "guests": Paginator(guests, PAGE_SIZE).get_page(request.GET.get("pagina")),
        "left_out": left_out_page(guest_list, request.GET.get("excluidos")),
        "form": RulesForm(initial=rules_initial(guest_list)), "query": query,
        "results": search_results(guest_list, query) if editable or late else [],
        "attachment": campaign.guest_list_file, "imports": lists.usable_imports(campaign),
        "last_share": sharing.latest_share(campaign),
    })


def _act(request, folio, action, done: str):
    """Runs one write on the campaign's list; its refusal becomes a message, and so does an undone confirmation."""
    guest_list = lists.guest_list_for(campaign_or_404(folio))
    try:
        changed = action(guest_list)
    except lists.GuestListError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
        if changed is True:  # the services return True when the change undid a confirmation
            messages.warning(request, _("La lista ya no está confirmada: revísela y vuelva a confirmarla."))
    return redirect("directory:guest_list", folio)


@require_POST
@directory_editor_required
def guest_list_rules(request, folio):
    campaign_or_404(folio)  # 404 before reading the form
    form = RulesForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() or [_("Algún sector o etiqueta no es válido; no se cambió nada.")]:
            messages.error(request, error)
        return redirect("directory:guest_list", folio)
    return _act(request, folio, lambda gl: lists.guest_list_set_rules(guest_list=gl, actor=request.user, **form.cleaned_data),
                _("Se guardaron los sectores y etiquetas de la lista."))


def posted_contact(request) -> Contact:
    try:
        return Contact.objects.get(pk=int(request.POST.get("contacto", "")))
    except (ValueError, Contact.DoesNotExist):
        raise Http404(_("No existe ese contacto.")) from None


@require_POST
@directory_editor_required
def guest_list_add(request, folio):
    contact = posted_contact(request)

    def add(guest_list):
        if guest_list.frozen_at:
            lists.guest_list_add_late(guest_list=guest_list, actor=request.user, contact=contact)
            return False
        return lists.guest_list_add(guest_list=guest_list, actor=request.user, contact=contact)

    return _act(request, folio, add, _("Se agregó a %(name)s a la lista.") % {"name": contact})


@require_POST
@directory_editor_required
def guest_list_remove(request, folio):
    contact = posted_contact(request)
    return _act(request, folio, lambda gl: lists.guest_list_remove(guest_list=gl, actor=request.user, contact=contact),
                _("Se quitó a %(name)s de la lista.") % {"name": contact})


@require_POST
@directory_editor_required
def guest_list_use_import(request, folio):
    batch = None
    if request.POST.get("importacion"):
        try:
            batch = ImportBatch.objects.get(public_id=request.POST["importacion"])
        except (ValidationError, ImportBatch.DoesNotExist):
            raise Http404(_("No existe esa importación.")) from None
    done = _("La lista incluye ahora a las personas de «%(name)s».") % {"name": batch} if batch else \
        _("La lista ya no incluye una lista importada.")
    return _act(request, folio, lambda gl: lists.guest_list_use_import(guest_list=gl, actor=request.user, batch=batch), done)


@require_POST
@directory_editor_required
def guest_list_import(request, folio):
    guest_list = lists.guest_list_for(campaign_or_404(folio))
    try:
        batch = lists.guest_list_import_file(guest_list=guest_list, actor=request.user)
    except (lists.GuestListError, UnreadableFile) as error:
        messages.error(request, str(error))
        return redirect("directory:guest_list", folio)
    messages.info(request, _("Confirme las columnas; al terminar la importación, vuelva a la lista y elija «Usar esta importación»."))
    return redirect("directory:import_mapping", batch.public_id)


@require_POST
@directory_editor_required
def guest_list_confirm(request, folio):
    guest_list = lists.guest_list_for(campaign_or_404(folio))
    try:
        confirmed = lists.guest_list_confirm(guest_list=guest_list, actor=request.user)
    except lists.GuestListError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Lista confirmada.") if confirmed else _("La lista ya estaba confirmada."))
    return redirect("directory:guest_list", folio)


@login_required
def guest_list_share(request, folio):
    """GET: what is shared (the database team and the Director) or the download (the department's requesters).
    POST: the database team sends it."""
    campaign = campaign_or_404(folio)
    office, requester = can_see_directory(request.user), sharing.may_download_shared(request.user, campaign)
    if not (office or requester):
        raise Http404(_("No existe la solicitud %(folio)s o no tiene acceso a ella.") % {"folio": folio})
    guest_list = lists.guest_list_for(campaign)
    can_share = can_edit_directory(request.user)
    if request.method == "POST":
        if not can_share:
            raise PermissionDenied(_("Solo la Jefatura de Base de Datos envía la lista a la dirección."))
        try:
            entry = sharing.guest_list_share(guest_list=guest_list, actor=request.user)
        except lists.GuestListError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Se envió la lista (%(n)d personas) a %(department)s.") % {
                "n": entry.data["rows"], "department": campaign.department})
        return redirect("directory:guest_list_share", folio)
    return render(request, "directory/guestlists/share.html", {
        "campaign": campaign, "guest_list": guest_list, "office": office, "requester": requester,
        "can_share": can_share, "shares": sharing.shares_of(campaign), "columns": sharing.SHARED_COLUMNS,
        "summary": lists.guest_summary(guest_list) if office else None,
    })


@login_required
def guest_list_shared_file(request, folio):
    campaign = campaign_or_404(folio)
    entry = sharing.latest_share(campaign) if sharing.may_download_shared(request.user, campaign) else None
    if entry is None or not default_storage.exists(entry.data.get("file", "")):
        raise Http404(_("No hay una lista compartida para descargar."))
    return FileResponse(default_storage.open(entry.data["file"], "rb"), as_attachment=True,
                        filename=sharing.shared_filename(campaign), content_type=sharing.XLSX_TYPE)


urlpatterns = [
    path("listas/<str:folio>/", guest_list_page, name="guest_list"),
    path("listas/<str:folio>/reglas/", guest_list_rules, name="guest_list_rules"),
    path("listas/<str:folio>/agregar/", guest_list_add, name="guest_list_add"),
    path("listas/<str:folio>/quitar/", guest_list_remove, name="guest_list_remove"),
    path("listas/<str:folio>/importar/", guest_list_import, name="guest_list_import"),
    path("listas/<str:folio>/usar-importacion/", guest_list_use_import, name="guest_list_use_import"),
    path("listas/<str:folio>/confirmar/", guest_list_confirm, name="guest_list_confirm"),
    path("listas/<str:folio>/compartir/", guest_list_share, name="guest_list_share"),
    path("listas/<str:folio>/compartida.xlsx", guest_list_shared_file, name="guest_list_shared_file"),
]
