"""The Director and the database role enter with a code from an authenticator app after their password."""

import re
import time

import pyotp
import pytest
from django.core.management import call_command
from django.urls import reverse

from pregonero.accounts import otp
from pregonero.accounts.models import SecondFactor
from pregonero.accounts.views import PENDING
from pregonero.campaigns.models import AuditEntry

PASSWORD = "clave-de-prueba-1"
LOCKED = "Demasiados intentos fallidos"


def sign_in(client, username, next_url=""):
    data = {"username": username, "password": PASSWORD, **({"next": next_url} if next_url else {})}
    return client.post(reverse("login"), data)


def signed_in(client) -> bool:
    return client.get(reverse("campaigns:inbox")).status_code == 200


def send_code(client, code, **extra):
    return client.post(reverse("second_step"), {"code": code}, **extra)


def enrol(client, username="directora") -> tuple[pyotp.TOTP, list[str], str]:
    """Password, then the enrolment page: reads the key as a person would type it, confirms with its code."""
    assert sign_in(client, username)["Location"] == reverse("second_step")
    page = client.get(reverse("second_step")).content.decode()
    secret = re.search(r'<code id="otp-secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    totp = pyotp.TOTP(secret)
    first_code = totp.now()
    page = send_code(client, first_code).content.decode()
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", page)
    return totp, codes, first_code


def next_code(totp) -> str:
    """The code of the step after the current one: still good (±1 step) and newer than any code used so far."""
    return totp.at(time.time(), counter_offset=1)


def test_first_sign_in_enrols_the_app_and_shows_recovery_codes_once(client, people):
    assert sign_in(client, "directora")["Location"] == reverse("second_step")
    page = client.get(reverse("second_step")).content.decode()
    assert "Activar la verificación en dos pasos" in page and "<svg" in page

    totp, codes, _used = enrol(client)
    assert len(codes) == 8 and len(set(codes)) == 8
    assert signed_in(client)
    factor = SecondFactor.objects.get(user=people.director)
    assert totp.secret not in factor.secret and otp.unseal(factor.secret) == totp.secret
    assert not any(code in str(factor.recovery_codes) for code in codes)
    assert AuditEntry.objects.filter(action="accounts.second_factor_enrolled", actor=people.director).exists()

    client.post(reverse("logout"))
    sign_in(client, "directora")
    page = client.get(reverse("second_step")).content.decode()
    assert "Código de verificación" in page and "<svg" not in page and totp.secret[:8] not in page


def test_until_the_code_no_page_opens(client, people):
    totp, _codes, _used = enrol(client)
    client.post(reverse("logout"))
    sign_in(client, "directora", next_url=reverse("directory:index"))
    for path in (reverse("campaigns:inbox"), reverse("directory:index"), "/admin/"):
        assert client.get(path).status_code == 302, path
    assert not signed_in(client)
    response = send_code(client, next_code(totp))
    assert response["Location"] == reverse("directory:index") and signed_in(client)


def test_a_wrong_code_is_explained_and_a_used_one_is_not_taken_again(client, people):
    totp, _codes, used = enrol(client)
    client.post(reverse("logout"))
    sign_in(client, "directora")
    wrong = next(code for code in ("000000", "111111") if code not in (used, next_code(totp)))
    assert "El código no es correcto o ya se usó" in send_code(client, wrong).content.decode()
    assert "El código no es correcto o ya se usó" in send_code(client, used).content.decode()
    assert not signed_in(client)
    assert send_code(client, next_code(totp)).status_code == 302 and signed_in(client)


def test_wrong_codes_count_toward_the_lock_out(client, people, settings):
    settings.LOGIN_MAX_FAILURES = 3
    enrol(client)
    client.post(reverse("logout"))
    sign_in(client, "directora")
    send_code(client, "000001")
    send_code(client, "000002")
    response = send_code(client, "000003", follow=True)
    assert LOCKED in response.content.decode() and response.redirect_chain[-1][0] == reverse("login")
    assert LOCKED in sign_in(client, "directora").content.decode()


def test_a_recovery_code_works_once(client, people):
    _totp, codes, _used = enrol(client)
    client.post(reverse("logout"))
    sign_in(client, "directora")
    page = send_code(client, codes[0].upper().replace("-", " "), follow=True).content.decode()
    assert "Entró con un código de respaldo; le quedan 7." in page and signed_in(client)
    client.post(reverse("logout"))
    sign_in(client, "directora")
    assert "El código no es correcto o ya se usó" in send_code(client, codes[0]).content.decode()
    assert send_code(client, codes[1]).status_code == 302 and signed_in(client)


def test_the_database_role_and_the_administrator_need_it_too_other_roles_do_not(client, people, django_user_model):
    django_user_model.objects.create_superuser("sistemas", "sistemas@pregonero.example", PASSWORD)
    for username in ("basedatos", "sistemas"):
        assert sign_in(client, username)["Location"] == reverse("second_step"), username
        client.session.flush()
    for username in ("redes", "asistente", "cultura"):
        assert sign_in(client, username)["Location"] == reverse("campaigns:inbox"), username
        client.post(reverse("logout"))


def test_the_roles_are_a_setting(client, people, settings):
    settings.OTP_REQUIRED_ROLES = ["social_media"]
    assert sign_in(client, "redes")["Location"] == reverse("second_step")
    client.session.flush()
    assert sign_in(client, "directora")["Location"] == reverse("campaigns:inbox")


def test_the_code_step_expires(client, people):
    sign_in(client, "directora")
    session = client.session
    session[PENDING]["since"] -= 6 * 60
    session.save()
    response = client.get(reverse("second_step"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "Escriba de nuevo su usuario y contraseña." in response.content.decode()


def test_an_administrator_resets_a_lost_factor(client, people, django_user_model):
    enrol(client)
    client.post(reverse("logout"))
    admin = django_user_model.objects.create_superuser("sistemas", "sistemas@pregonero.example", "clave-admin-123")
    client.force_login(admin)
    response = client.post(reverse("admin:accounts_user_changelist"),
                           {"action": "reset_second_factor", "_selected_action": [people.director.pk]}, follow=True)
    assert "Segundo factor restablecido: 1 usuario(s)." in response.content.decode()
    assert not SecondFactor.objects.filter(user=people.director).exists()
    assert AuditEntry.objects.filter(action="accounts.second_factor_reset", actor=admin).exists()
    client.post(reverse("logout"))
    sign_in(client, "directora")
    assert "Activar la verificación en dos pasos" in client.get(reverse("second_step")).content.decode()


def test_the_sealed_secret_survives_a_key_rotation_with_the_old_key_as_fallback(settings):
    sealed = otp.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert otp.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") != sealed  # a fresh nonce each time
    old_key, settings.SECRET_KEY = settings.SECRET_KEY, "otra-clave-" + "x" * 50
    with pytest.raises(ValueError):
        otp.unseal(sealed)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert otp.unseal(sealed) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_force_login_still_signs_in_for_tests(client, people):
    client.force_login(people.director)
    assert signed_in(client)


def test_the_unlock_command_can_reset_the_factor_too(client, people, capsys):
    enrol(client)
    call_command("unlock-login", "directora", "--reset-second-factor")
    assert "Segundo factor restablecido." in capsys.readouterr().out
    assert not SecondFactor.objects.filter(user=people.director).exists()
