"""Repeated failed sign-ins lock the name (and, for many names, the address) for a while, in every web process."""

import logging
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from pregonero.campaigns.models import AuditEntry
from pregonero.rsvp.models import Throttle

LOCKED = "Demasiados intentos fallidos"
WRONG = "Usuario o contraseña incorrectos"
PASSWORD = "clave-de-prueba-1"


def sign_in(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def signed_in(client) -> bool:
    return client.get(reverse("campaigns:inbox")).status_code == 200


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_MAX_FAILURES = 5
    settings.LOGIN_IP_MAX_FAILURES = 50
    settings.LOGIN_LOCKOUT_MINUTES = 15


def test_five_wrong_passwords_lock_the_name_even_for_the_right_one(client, people):
    for attempt in range(4):
        assert WRONG in sign_in(client, "redes", f"equivocada-{attempt}").content.decode()
    assert LOCKED in sign_in(client, "redes", "equivocada-5").content.decode()

    page = sign_in(client, "redes", PASSWORD).content.decode()
    assert LOCKED in page and not signed_in(client)


def test_an_unknown_name_gets_the_same_answers(client, people):
    answers = [sign_in(client, "nadie", "equivocada").content.decode() for _ in range(6)]
    assert all(WRONG in answer for answer in answers[:4])
    assert all(LOCKED in answer for answer in answers[4:])


def test_the_name_is_locked_whatever_its_case(client, people):
    for _ in range(5):
        sign_in(client, "REDES", "equivocada")
    assert LOCKED in sign_in(client, "redes", PASSWORD).content.decode()


def test_a_success_starts_the_count_again(client, people):
    for _ in range(4):
        sign_in(client, "redes", "equivocada")
    assert sign_in(client, "redes", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        assert WRONG in sign_in(client, "redes", "equivocada").content.decode()
    assert sign_in(client, "redes", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_lockout_minutes(client, people):
    for _ in range(5):
        sign_in(client, "redes", "equivocada")
    assert LOCKED in sign_in(client, "redes", PASSWORD).content.decode()
    row = Throttle.objects.get(key="login-user:redes")
    row.window_start -= timedelta(minutes=15, seconds=1)  # as if a quarter hour went by
    row.save()
    assert sign_in(client, "redes", PASSWORD).status_code == 302 and signed_in(client)


def test_many_names_from_one_address_lock_that_address_only(client, people, settings):
    settings.LOGIN_IP_MAX_FAILURES = 6
    for number in range(6):
        sign_in(client, f"intruso{number}", "equivocada", REMOTE_ADDR="203.0.113.7")
    assert LOCKED in sign_in(client, "redes", PASSWORD, REMOTE_ADDR="203.0.113.7").content.decode()
    assert sign_in(client, "redes", PASSWORD, REMOTE_ADDR="198.51.100.20").status_code == 302


def test_failures_are_logged_and_the_lock_audited_without_the_password(client, people, caplog):
    with caplog.at_level(logging.WARNING, logger="pregonero.accounts"):
        for _ in range(5):
            sign_in(client, "redes", "secreto-que-no-se-guarda")
        sign_in(client, "nadie", "otro-secreto")
    assert "Failed sign-in (password) for redes from 127.0.0.1" in caplog.text
    assert "for an unknown username" in caplog.text and "nadie" not in caplog.text
    assert "secreto" not in caplog.text
    entry = AuditEntry.objects.get(action="accounts.login_locked")
    assert entry.data == {"username": "redes", "ip": "127.0.0.1", "step": "password", "by": "username"}


def test_an_administrator_unlocks_from_the_user_list(client, people, django_user_model):
    for _ in range(5):
        sign_in(client, "redes", "equivocada")
    admin = django_user_model.objects.create_superuser("sistemas", "sistemas@pregonero.example", "clave-admin-123")
    client.force_login(admin)
    response = client.post(reverse("admin:accounts_user_changelist"),
                           {"action": "unlock_sign_in", "_selected_action": [people.social_media.pk]}, follow=True)
    assert "Entrada desbloqueada: 1 usuario(s) tenían bloqueo." in response.content.decode()
    assert AuditEntry.objects.filter(action="accounts.login_unlocked", actor=admin).exists()
    client.post(reverse("logout"))
    assert sign_in(client, "redes", PASSWORD).status_code == 302


def test_the_unlock_command_lifts_a_name_and_an_address(client, people, settings, capsys):
    settings.LOGIN_IP_MAX_FAILURES = 5
    for _ in range(5):
        sign_in(client, "redes", "equivocada")
    call_command("unlock-login", "redes")
    assert LOCKED in sign_in(client, "redes", PASSWORD).content.decode()  # the address is still full
    call_command("unlock-login", "--ip", "127.0.0.1")
    assert "Bloqueos levantados: 1." in capsys.readouterr().out
    assert sign_in(client, "redes", PASSWORD).status_code == 302


def test_the_admin_signs_in_through_pregonero_sign_in(client, people):
    response = client.get("/admin/login/?next=/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/admin/accounts/user/"
    client.force_login(people.social_media)  # signed in but not staff: a clear refusal, not a loop
    assert client.get("/admin/login/").status_code == 403


def test_the_unlock_command_explains_what_it_needs(people):
    for args, message in ((["nadie"], "No existe el usuario nadie."),
                          ([], "Indique un usuario, una dirección IP (--ip) o ambos."),
                          (["--ip", "127.0.0.1", "--reset-second-factor"], "--reset-second-factor necesita un usuario.")):
        with pytest.raises(CommandError, match=re.escape(message)):
            call_command("unlock-login", *args)
