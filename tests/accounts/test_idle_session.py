"""A session left idle, or open too long, is signed out on its next request, and the sign-in page says why."""

import time

from django.urls import reverse

from pregonero.accounts.middleware import SEEN_KEY, SIGNED_IN_KEY


def shift(client, key, seconds_ago):
    session = client.session
    session[key] = int(time.time()) - seconds_ago
    session.save()


def test_an_idle_session_is_signed_out_with_a_message(client, people, settings):
    settings.SESSION_IDLE_MINUTES = 30
    client.force_login(people.social_media)
    assert client.get(reverse("campaigns:inbox")).status_code == 200
    shift(client, SEEN_KEY, 31 * 60)

    response = client.get(reverse("campaigns:list"), follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("login"))
    assert "Su sesión se cerró tras 30 minutos sin actividad; entre de nuevo." in response.content.decode()
    assert client.get(reverse("campaigns:inbox")).status_code == 302


def test_activity_keeps_the_session_open(client, people, settings):
    settings.SESSION_IDLE_MINUTES = 30
    client.force_login(people.social_media)
    client.get(reverse("campaigns:inbox"))
    shift(client, SEEN_KEY, 29 * 60)
    assert client.get(reverse("campaigns:inbox")).status_code == 200
    assert time.time() - client.session[SEEN_KEY] < 60  # the request counted as activity


def test_the_last_seen_mark_is_written_at_most_once_a_minute(client, people):
    client.force_login(people.social_media)
    client.get(reverse("campaigns:inbox"))
    shift(client, SEEN_KEY, 20)
    marked = client.session[SEEN_KEY]
    assert client.get(reverse("campaigns:inbox")).status_code == 200
    assert client.session[SEEN_KEY] == marked


def test_a_session_closes_at_its_maximum_age_even_when_active(client, people, settings):
    settings.SESSION_COOKIE_AGE = 12 * 60 * 60
    client.force_login(people.social_media)
    client.get(reverse("campaigns:inbox"))
    shift(client, SIGNED_IN_KEY, 12 * 60 * 60 + 1)
    response = client.get(reverse("campaigns:inbox"), follow=True)
    assert "Su sesión llegó a su duración máxima y se cerró; entre de nuevo." in response.content.decode()
    assert client.get(reverse("campaigns:inbox")).status_code == 302

