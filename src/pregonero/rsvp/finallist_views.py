"""The final guest list pages: counts and table for the office (the requesting department reads it), its
downloads, the printed list for the door, sending it to the department and closing it."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_POST

from pregonero.accounts.roles import Role
from pregonero.campaigns.forms import TransitionForm
from pregonero.campaigns.models import State
from pregonero.campaigns.services import acts_as, campaign_transition
from pregonero.campaigns.views import run_action, visible_campaign_or_404
from pregonero.directory.models import Sector

from . import finallist as final
from .models import Invitation

PAGE_SIZE = 100
PRINT_CHUNK = 500
ROWS_MARK = "<!--rows-->"


class FiltersForm(forms.Form):
    sector = forms.ModelChoiceField(Sector.objects.all(), required=False, label=gettext_lazy("Sector"),
                                    empty_label=gettext_lazy("Todos"))
    organizacion = forms.CharField(required=False, max_length=200, label=gettext_lazy("Organización"))
    respuesta = forms.ChoiceField(choices=[("", gettext_lazy("Todas")), *Invitation.Answer.choices], required=False,
                                  label=gettext_lazy("Respuesta"))

    def filters(self) -> final.Filters:
        if not self.is_valid():
            return final.Filters()
        data = self.cleaned_data
        return final.Filters(sector=data["sector"], organization=data["organizacion"], answer=data["respuesta"])


def filters_from(request) -> tuple[FiltersForm, final.Filters]:
    form = FiltersForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        messages.error(request, _("Uno de los filtros no es válido; se muestra la lista completa."))
    return form, form.filters() if form.is_bound else final.Filters()


@login_required
def final_list_page(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    form, filters = filters_from(request)
    invitations = final.final_list_queryset(campaign, filters)
    page = Paginator(final.final_list_rows(invitations, filters), PAGE_SIZE).get_page(request.GET.get("pagina"))
    query = request.GET.copy()
    query.pop("pagina", None)
    may_send = final.final_list_may_send(request.user, campaign)
    return render(request, "rsvp/final_list.html", {
        "campaign": campaign, "form": form, "filters": filters, "page": page, "query": query.urlencode(),
        "counts": final.final_list_counts(invitations),
        "has_list": campaign.state in final.LIST_STATES,
        "organizations": organizations_of(campaign),
        "may_send": may_send and campaign.state in final.SENDABLE_STATES,
        "may_close": acts_as(request.user, Role.DATABASE, campaign) and campaign.state == State.SENT,
        "sends": final.last_sends(campaign)[:10],
        "closed_entry": campaign.audit_entries.filter(action="campaign.close").first(),
        "close_form": TransitionForm(initial={"expected_state": campaign.state}),
    })


def organizations_of(campaign) -> list[str]:
    """The organizations on the list, for the filter's suggestions."""
    names = (Invitation.objects.filter(campaign=campaign).exclude(contact__organization="")
             .values_list("contact__organization", flat=True).distinct().order_by("contact__organization"))
    return list(names[:500])


@login_required
def final_list_download(request, folio, fmt):
    campaign = visible_campaign_or_404(request, folio)
    if fmt not in final.FORMATS:
        raise Http404(_("Formato desconocido."))
    _form, filters = filters_from(request)
    output, _count = final.final_list_export(campaign, fmt, filters)
    return FileResponse(output, as_attachment=True, filename=final.final_list_filename(campaign, fmt),
                        content_type=final.CONTENT_TYPES[fmt])


def print_rows(rows):
    """The rendered table body in chunks, with a heading row each time the sector changes."""
    chunk, previous = [], object()
    for row in rows:
        row["new_sector"] = row["sector"] != previous
        previous = row["sector"]
        chunk.append(row)
        if len(chunk) == PRINT_CHUNK:
            yield render_to_string("rsvp/final_print_rows.html", {"rows": chunk})
            chunk = []
    if chunk:
        yield render_to_string("rsvp/final_print_rows.html", {"rows": chunk})


@login_required
def final_list_print(request, folio):
    """The list for the door, streamed: the page's frame is rendered once and the rows go out in chunks."""
    campaign = visible_campaign_or_404(request, folio)
    _form, filters = filters_from(request)
    invitations = final.final_list_queryset(campaign, filters)
    frame = render_to_string("rsvp/final_print.html", {
        "campaign": campaign, "filters": filters, "counts": final.final_list_counts(invitations),
        "rows_mark": mark_safe(ROWS_MARK),  # a constant HTML comment  # nosec B308 B703
    }, request=request)
    head, tail = frame.split(ROWS_MARK, 1)

    def body():
        yield head
        yield from print_rows(final.final_list_rows(invitations, filters).iterator(chunk_size=final.CHUNK))
        yield tail

    return StreamingHttpResponse(body(), content_type="text/html; charset=utf-8")


@login_required
@require_POST
def final_list_send(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    try:
        entry = final.final_list_send(campaign=campaign, actor=request.user)
    except final.FinalListError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Se envió la lista final a %(department)s (%(n)d correos).") % {
            "department": campaign.department, "n": entry.data["emailed"]})
    return redirect("finallist:page", folio)


@login_required
@require_POST
def final_list_close(request, folio):
    campaign = visible_campaign_or_404(request, folio)
    if not acts_as(request.user, Role.DATABASE, campaign):
        raise PermissionDenied(_("Solo la Jefatura de Base de Datos cierra la lista final."))
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("El formulario llegó incompleto; vuelva a intentarlo."))
        return redirect("finallist:page", folio)

    def close():
        campaign_transition(campaign=campaign, actor=request.user, name="close",
                            comment=form.cleaned_data["comment"], expected_state=form.cleaned_data["expected_state"])

    if run_action(request, campaign, close):
        messages.success(request, _("Lista final cerrada: ya no se registran respuestas."))
    return redirect(reverse("finallist:page", args=[folio]))


urlpatterns = [
    path("solicitudes/<str:folio>/lista-final/", final_list_page, name="page"),
    path("solicitudes/<str:folio>/lista-final/descargar.<str:fmt>", final_list_download, name="download"),
    path("solicitudes/<str:folio>/lista-final/imprimir/", final_list_print, name="print"),
    path("solicitudes/<str:folio>/lista-final/enviar/", final_list_send, name="send"),
    path("solicitudes/<str:folio>/lista-final/cerrar/", final_list_close, name="close"),
]
