from django.urls import reverse


def test_login_page_in_spanish(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "Entrar a Pregonero" in response.content.decode()


def test_detail_page_renders_for_each_role(client, people, make_campaign):
    campaign = make_campaign()
    for user in (people.requester, people.assistant, people.director, people.social_media, people.database):
        client.force_login(user)
        response = client.get(reverse("campaigns:detail", args=[campaign.folio]))
        assert response.status_code == 200, user
        assert campaign.folio in response.content.decode()
