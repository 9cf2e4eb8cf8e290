"""Spanish (es-MX) is the default language; the language switcher turns the pages into English."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from pregonero.campaigns.models import Campaign


@pytest.fixture(autouse=True)
def restore_language():
    """The test client runs the view in this thread: put the default language back for the next test."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]*)"', response.content.decode())
    assert match, "the page has no <html lang=...>"
    return match.group(1)


def switch_language(client, code: str):
    response = client.post(reverse("set_language"), {"language": code, "next": reverse("login")})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == code
    return response


def test_login_page_is_spanish_by_default(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    page = response.content.decode()
    assert html_lang(response) == "es-mx"
    assert "Entrar a Pregonero" in page
    assert "Contraseña" in page
    assert "Log in to Pregonero" not in page


def test_a_browser_set_to_english_still_gets_spanish(client, db):
    """Only the explicit choice in the selector changes the language, not the browser's Accept-Language."""
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert html_lang(response) == "es-mx"
    assert "Entrar a Pregonero" in response.content.decode()


def test_switching_to_english_translates_the_login_page(client, db):
    switch_language(client, "en")
    response = client.get(reverse("login"))
    assert response.status_code == 200
    page = response.content.decode()
    assert html_lang(response) == "en"
    assert "Log in to Pregonero" in page
    assert "Mass invitation sending for the Public Relations Office." in page
    assert "Username" in page and "Password" in page
    assert "Entrar a Pregonero" not in page
    # The switcher names each language in its own language.
    assert "Español (México)" in page


def test_switching_back_to_spanish(client, db):
    switch_language(client, "en")
    switch_language(client, "es-mx")
    response = client.get(reverse("login"))
    assert html_lang(response) == "es-mx"
    assert "Entrar a Pregonero" in response.content.decode()


def test_inbox_in_spanish_and_in_english(client, people, make_campaign):
    campaign = make_campaign(state="in_review")
    Campaign.objects.filter(pk=campaign.pk).update(state_changed_at=timezone.now() - timedelta(days=3))
    client.force_login(people.director)

    response = client.get(reverse("campaigns:inbox"))
    assert response.status_code == 200
    page = response.content.decode()
    assert html_lang(response) == "es-mx"
    assert campaign.folio in page
    assert "<h1>Bandeja</h1>" in page
    assert "En revisión de la Dirección" in page
    assert "3 días" in page

    switch_language(client, "en")
    response = client.get(reverse("campaigns:inbox"))
    assert response.status_code == 200
    page = response.content.decode()
    assert html_lang(response) == "en"
    assert campaign.folio in page
    assert "<h1>Inbox</h1>" in page
    assert "Requests waiting on your area, oldest first." in page
    assert "Notices" in page and "Requests" in page and "Log out" in page
    assert "Reference" in page
    assert "Under review by the Director" in page  # a model choice label (gettext_lazy)
    assert "3 days" in page  # a plural entry (ngettext)
    assert "Public Relations Office (Director)" in page  # the role shown in the top bar
    assert "Bandeja" not in page
    assert "En revisión de la Dirección" not in page


def test_dates_in_words_follow_the_page_language():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.utils import translation

    from pregonero.campaigns.templatetags.campaigns_tags import long_datetime

    moment = datetime(2026, 12, 21, 19, 0, tzinfo=ZoneInfo("America/Cancun"))
    with translation.override("es-mx"):
        assert long_datetime(moment, "weekday") == "lunes 21 de diciembre a las 19:00"
        assert long_datetime(moment, "year") == "21 de diciembre de 2026, 19:00 h"
    with translation.override("en"):
        assert long_datetime(moment, "weekday") == "Monday, December 21 at 19:00"
        assert long_datetime(moment) == "December 21 at 19:00"
