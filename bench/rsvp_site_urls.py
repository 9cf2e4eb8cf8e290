"""The bench's URLconf: Pregonero's URLs plus ``/bench/bare/<token>``, the floor the invitation page is held
against: a plain Django view that reads one row (the invitation, by its token) and renders a tiny template,
through the same middleware, server and database."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import include, path

from pregonero.rsvp.models import Invitation

TEMPLATE = engines["django"].from_string(  # compiled once, as the cached loader keeps the product's templates
    '<!doctype html><html lang="es"><meta charset="utf-8"><title>Invitación</title>'
    "<p>{{ invitation.token }}: {{ invitation.get_answer_display }}</p></html>")


def bare(request, token):
    invitation = get_object_or_404(Invitation, token=token)
    return HttpResponse(TEMPLATE.render({"invitation": invitation}, request))


urlpatterns = [path("bench/bare/<str:token>", bare), path("", include("pregonero.urls"))]
