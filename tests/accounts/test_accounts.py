from django.urls import reverse


def test_spanish_even_when_the_browser_asks_for_english(client, db):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Entrar a Pregonero" in page and 'lang="es-mx"' in page


def test_login_with_a_wrong_password_is_explained(client, people):
    response = client.post(reverse("login"), {"username": "directora", "password": "equivocada"})
    assert response.status_code == 200
    assert "Usuario o contraseña incorrectos" in response.content.decode()


def test_login_lands_on_the_inbox_and_logout_needs_post(client, people):
    # Redes Sociales signs in with the password alone; the Director's second step is in test_otp.py.
    response = client.post(reverse("login"), {"username": "redes", "password": "clave-de-prueba-1"})
    assert response["Location"] == reverse("campaigns:inbox")
    assert client.get(reverse("campaigns:inbox")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405
    client.post(reverse("logout"))
    assert client.get(reverse("campaigns:inbox"))["Location"].startswith(reverse("login"))


def test_password_change(client, people):
    client.force_login(people.director)
    response = client.post(reverse("password_change"), {
        "old_password": "clave-de-prueba-1", "new_password1": "Palapas-de-Cancun-2026", "new_password2": "Palapas-de-Cancun-2026",
    })
    assert response.status_code == 302
    people.director.refresh_from_db()
    assert people.director.check_password("Palapas-de-Cancun-2026")


def test_roles_are_groups_with_their_permission(people):
    from pregonero.accounts.roles import Role

    assert people.director.roles == {Role.DIRECTOR}
    assert people.requester.has_perm("campaigns.act_as_requester")
    assert not people.requester.has_perm("campaigns.act_as_director")


def test_it_administrator_reaches_the_admin(client, django_user_model, db):
    admin = django_user_model.objects.create_superuser("sistemas", "sistemas@pregonero.example", "clave-admin-123")
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/campaigns/checklistitem/").status_code == 200


def test_new_request_link_only_for_those_who_register(client, people):
    for user, shown in ((people.requester, True), (people.assistant, True), (people.director, False), (people.database, False)):
        client.force_login(user)
        page = client.get(reverse("campaigns:inbox")).content.decode()
        assert (reverse("campaigns:new") in page) == shown, user
