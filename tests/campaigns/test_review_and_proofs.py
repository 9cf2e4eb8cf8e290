"""Steps 4–6: the completeness check, the information request and its answer, proofs and the visto bueno."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns import services
from pregonero.campaigns.models import Campaign, InfoRequest, Proof, State
from pregonero.directory.models import Sector

from test_request_forms import png_bytes


def detail(client, campaign):
    return client.get(reverse("campaigns:detail", args=[campaign.folio])).content.decode()


def test_checklist_marks_what_is_missing_and_the_requester_is_told(
    client, people, make_campaign, inbox, django_capture_on_commit_callbacks
):
    campaign = make_campaign(state=State.AUTHORIZED, venue="", rsvp_deadline=None)
    client.force_login(people.social_media)
    page = detail(client, campaign)
    assert 'data-check="venue"' in page and "Lugar del evento" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("campaigns:checklist", args=[campaign.folio]),
            {"verdict": "incomplete", "comment": "Falta el lugar", "expected_state": State.AUTHORIZED},
        )
    campaign.refresh_from_db()
    assert campaign.state == State.INFO_REQUESTED
    missing = InfoRequest.objects.get(campaign=campaign).missing
    assert "Lugar del evento" in missing and "Fecha límite para confirmar asistencia" in missing
    [mail] = inbox.to(people.requester.email)
    assert "Información solicitada" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "Falta el lugar" in text
    assert "- Lugar del evento" in text and "- Fecha límite para confirmar asistencia" in text


def test_complete_is_refused_while_something_is_missing(client, people, make_campaign):
    campaign = make_campaign(state=State.AUTHORIZED, venue="")
    client.force_login(people.social_media)
    response = client.post(
        reverse("campaigns:checklist", args=[campaign.folio]),
        {"verdict": "complete", "expected_state": State.AUTHORIZED}, follow=True,
    )
    assert "No puede marcarse completa" in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).state == State.AUTHORIZED


def test_complete_needs_the_manual_policy_check_too(client, people, make_campaign):
    campaign = make_campaign(state=State.AUTHORIZED, dress_code="Formal")
    campaign.target_sectors.set([Sector.objects.first()])
    from pregonero.campaigns.models import Attachment
    Attachment.objects.create(campaign=campaign, kind="image", file="x.png", original_name="x.png",
                              content_type="image/png", size=1, uploaded_by=people.requester)
    client.force_login(people.social_media)
    url = reverse("campaigns:checklist", args=[campaign.folio])
    client.post(url, {"verdict": "complete", "expected_state": State.AUTHORIZED})
    assert Campaign.objects.get(pk=campaign.pk).state == State.AUTHORIZED
    from pregonero.campaigns.models import ChecklistItem
    manual = ChecklistItem.objects.get(rule="manual")
    client.post(url, {"verdict": "complete", "expected_state": State.AUTHORIZED, f"item_{manual.pk}": "on"})
    assert Campaign.objects.get(pk=campaign.pk).state == State.PROOF_DRAFT


def test_the_requester_answer_returns_the_request_to_social_media(client, people, make_campaign):
    campaign = make_campaign(state=State.AUTHORIZED, rsvp_deadline=None)
    services.campaign_request_info(campaign=campaign, actor=people.social_media, missing=["Fecha límite"], comment="")
    client.force_login(people.requester)
    deadline = timezone.localtime(timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "title": campaign.title, "starts_at": timezone.localtime(campaign.starts_at).strftime("%Y-%m-%dT%H:%M"),
        "venue": campaign.venue, "rsvp_deadline": deadline, "message_text": campaign.message_text,
        "answer": "Fecha límite agregada", "expected_state": State.INFO_REQUESTED,
    }
    response = client.post(reverse("campaigns:answer", args=[campaign.folio]), data)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == State.AUTHORIZED and campaign.rsvp_deadline is not None
    info = InfoRequest.objects.get(campaign=campaign)
    assert (info.answer, info.answered_by) == ("Fecha límite agregada", people.requester)
    assert people.social_media.notifications.filter(campaign=campaign, audit_entry__action="campaign.provide_info").exists()


def test_an_answer_that_fails_after_storing_its_image_leaves_no_file(client, people, make_campaign, settings,
                                                                     monkeypatch):
    campaign = make_campaign(state=State.AUTHORIZED)
    services.campaign_request_info(campaign=campaign, actor=people.social_media, missing=["Imagen"], comment="")
    media = Path(settings.MEDIA_ROOT)
    before = {path for path in media.rglob("*") if path.is_file()}

    def notify_fails(**kwargs):  # the last step of the answer's transaction, after the image was written
        raise ConnectionError("the database went away")

    monkeypatch.setattr(services, "notify", notify_fails)
    client.force_login(people.requester)
    data = {
        "title": campaign.title, "starts_at": timezone.localtime(campaign.starts_at).strftime("%Y-%m-%dT%H:%M"),
        "venue": campaign.venue, "message_text": campaign.message_text, "answer": "Va la imagen",
        "expected_state": State.INFO_REQUESTED,
        "invitation_image": SimpleUploadedFile("invitacion.png", png_bytes(), content_type="image/png"),
    }
    with pytest.raises(ConnectionError):
        client.post(reverse("campaigns:answer", args=[campaign.folio]), data)
    assert not campaign.attachments.exists()
    assert {path for path in media.rglob("*") if path.is_file()} == before


def test_an_invalid_answer_changes_nothing(client, people, make_campaign):
    campaign = make_campaign(state=State.INFO_REQUESTED)
    client.force_login(people.requester)
    data = {"title": "Nuevo título", "starts_at": "2001-01-01T10:00", "answer": "listo", "expected_state": State.INFO_REQUESTED}
    response = client.post(reverse("campaigns:answer", args=[campaign.folio]), data)
    assert response.status_code == 200 and "ya pasó" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == State.INFO_REQUESTED and campaign.title != "Nuevo título"


def save_proof(client, campaign, body, submit=False):
    data = {"whatsapp_template": "invitacion_evento", "whatsapp_body": body, "email_subject": "Invitación: {evento}",
            "email_body": body}
    if submit:
        data["submit"] = "1"
    return client.post(reverse("campaigns:proof_edit", args=[campaign.folio]), data)


def test_proof_versions_returned_and_approved_all_stay_viewable(client, people, make_campaign):
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.social_media)
    save_proof(client, campaign, "*{tratamiento} {nombre}*, le invitamos a {evento}", submit=True)
    services.proof_decide(campaign=campaign, actor=people.director, approve=False, comment="Agregue la hora")
    save_proof(client, campaign, "{tratamiento} {nombre}, le invitamos a {evento} a las {hora}", submit=True)
    services.proof_decide(campaign=campaign, actor=people.director, approve=True)

    v1, v2 = Proof.objects.filter(campaign=campaign).order_by("version")
    assert (v1.status, v1.review_comment, v2.status) == (Proof.Status.RETURNED, "Agregue la hora", Proof.Status.APPROVED)
    assert Campaign.objects.get(pk=campaign.pk).state == State.READY
    client.force_login(people.director)
    page = client.get(reverse("campaigns:proof_detail", args=[campaign.folio, 1])).content.decode()
    assert "Agregue la hora" in page and "<strong>Lic. María Fernanda López Hernández</strong>" in page
    assert "Confirmo asistencia" in page and "No podré asistir" in page
    assert "{nombre}" not in page
    assert "&lt;p&gt;" not in page  # the e-mail preview is rendered, not shown as markup
    assert client.get(reverse("campaigns:proof_detail", args=[campaign.folio, 2])).status_code == 200


def test_proof_placeholders_are_plain_substitution(client, people, make_campaign):
    campaign = make_campaign(state=State.PROOF_DRAFT, title="<script>alert(1)</script>")
    client.force_login(people.social_media)
    response = save_proof(client, campaign, "{{ settings.SECRET_KEY }} {% debug %} {cargo_inventado}")
    page = response.content.decode()
    assert response.status_code == 200 and "Marcador desconocido" in page
    assert not Proof.objects.exists()
    save_proof(client, campaign, "{% debug %} para {evento}")
    preview = client.get(reverse("campaigns:proof_edit", args=[campaign.folio])).content.decode()
    assert "{% debug %} para &lt;script&gt;alert(1)&lt;/script&gt;" in preview
    assert "<script>alert(1)</script>" not in preview


def test_only_social_media_edits_proofs(client, people, make_campaign):
    campaign = make_campaign(state=State.PROOF_DRAFT)
    client.force_login(people.director)
    assert save_proof(client, campaign, "Hola").status_code == 403
    assert not Proof.objects.exists()


def test_inbox_lists_waiting_requests_oldest_first(client, people, make_campaign):
    newer, older = make_campaign(state=State.IN_REVIEW), make_campaign(state=State.IN_REVIEW)
    Campaign.objects.filter(pk=older.pk).update(state_changed_at=timezone.now() - timedelta(days=3))
    make_campaign(state=State.AUTHORIZED)  # waits on social media, not on the Director
    client.force_login(people.director)
    page = client.get(reverse("campaigns:inbox")).content.decode()
    assert page.index(older.folio) < page.index(newer.folio)
    assert "3 días" in page
    assert page.count('href="/solicitudes/RP-') == 2


def test_detail_page_shows_timeline_and_flow_with_current_state(client, people, make_campaign):
    campaign = make_campaign(state=State.IN_REVIEW)
    services.campaign_transition(campaign=campaign, actor=people.director, name="authorize", comment="Adelante")
    client.force_login(people.requester)
    page = detail(client, campaign)
    assert "Adelante" in page and 'data-action="campaign.authorize"' in page
    assert 'class="df-node current"' in page or 'aria-current="step"' in page


def test_authorizing_puts_the_guest_list_in_the_database_inbox(client, people, make_campaign):
    campaign = make_campaign(state=State.IN_REVIEW)
    services.campaign_transition(campaign=campaign, actor=people.director, name="authorize")
    client.force_login(people.database)
    page = client.get(reverse("campaigns:inbox")).content.decode()
    assert 'id="guest-lists-waiting"' in page and campaign.folio in page
    assert people.database.notifications.filter(campaign=campaign).exists()


def test_guest_list_link_for_the_directory_roles_only(client, people, make_campaign):
    campaign = make_campaign(state=State.AUTHORIZED)
    for user, shown in ((people.database, True), (people.director, True), (people.requester, False),
                        (people.social_media, False)):
        client.force_login(user)
        assert ('id="guest-list-link"' in detail(client, campaign)) == shown, user
