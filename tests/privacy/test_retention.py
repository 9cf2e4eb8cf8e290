"""Retention: RETENTION_MONTHS after its event, a campaign keeps its counts and loses what identifies its guests."""

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from pregonero.campaigns.audit import chain_verify
from pregonero.campaigns.models import Attachment, AttachmentKind, AuditEntry, Campaign, State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.arco import ERASED_NAME
from pregonero.directory.models import Contact, ImportBatch, ImportIssue
from pregonero.directory.retention import PURGE_ACTION, campaigns_due, months_before, retention_cutoff
from pregonero.directory.tasks import retention_purge
from pregonero.rsvp.checkin import check_in, walk_in
from pregonero.rsvp.finallist import final_list_counts
from pregonero.rsvp.models import AnswerRecord, Invitation
from pregonero.rsvp.services import invitation_answer
from pregonero.sending.models import InboundMessage, Message, WebhookEvent
from pregonero.sending.services import send_start

pytestmark = pytest.mark.django_db
CANCUN = ZoneInfo("America/Cancun")


def sent_campaign(people, make_campaign, title):
    """Sent for real to 2 WhatsApp, 1 e-mail and 1 both guests; answers with staff notes, a reply, a check-in,
    a walk-in, the requester's guest-list spreadsheet and its import."""
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY, title=title), author=people.social_media,
                                   whatsapp=2, email_only=1, both=1, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    Campaign.objects.filter(pk=campaign.pk).update(state=State.SENT)
    guests = list(Invitation.objects.filter(campaign=campaign).order_by("pk"))
    invitation_answer(invitation=guests[0], answer=Invitation.Answer.ATTENDING, via=Invitation.Via.PHONE,
                      companions=0, actor=people.database, note="Llamó su secretaria, la Sra. Pech, al 998 123 4567",
                      confirm=False)
    invitation_answer(invitation=guests[1], answer=Invitation.Answer.DECLINED, via=Invitation.Via.BUTTON,
                      confirm=False)
    message = Message.objects.filter(invitation=guests[1], channel="whatsapp").get()
    InboundMessage.objects.create(provider_id=f"wamid.{campaign.pk}", wa_id="5219981000001", kind="button",
                                  message=message)
    check_in(invitation=guests[0], nonce=f"puerta-{campaign.pk}", actor=people.social_media)
    walk_in(campaign=campaign, name="Rosa Canché Poot", organization="Colonia Donceles 28", actor=people.social_media)
    Attachment.objects.create(campaign=campaign, kind=AttachmentKind.GUEST_LIST,
                              file=ContentFile(b"Nombre,Celular\nRosa,9981234567\n", name="invitados.csv"),
                              original_name="invitados.csv", content_type="text/csv", size=31,
                              uploaded_by=people.requester)
    batch = ImportBatch.objects.create(file=ContentFile(b"Nombre\nRosa\n", name="lista.csv"),
                                       original_name="lista.csv", campaign=campaign, status=ImportBatch.Status.DONE)
    ImportIssue.objects.create(batch=batch, row_number=2, level="rejected", reason="Sin celular", values=["Rosa"])
    campaign.refresh_from_db()
    return campaign


def age(campaign, *, months, state=None):
    """Moves the event (and, for a finished campaign, its last step) ``months`` months into the past."""
    then = months_before(timezone.localtime(), months)
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=then, state_changed_at=then,
                                                   state=state or campaign.state)
    campaign.refresh_from_db()


@pytest.fixture
def campaigns(people, make_campaign, settings):
    settings.RETENTION_MONTHS = 24
    old = sent_campaign(people, make_campaign, "Informe de gobierno 2023")
    recent = sent_campaign(people, make_campaign, "Feria del libro")
    age(old, months=25, state=State.CLOSED)
    age(recent, months=23)
    return old, recent


def snapshot(campaign):
    return {
        "messages": list(Message.objects.filter(campaign=campaign).order_by("pk").values_list(
            "state", "channel", "address", "payload")),
        "counts": final_list_counts(Invitation.objects.filter(campaign=campaign)),
        "answers": list(AnswerRecord.objects.filter(invitation__campaign=campaign).values_list(
            "answer", "companions", "via", "note")),
        "tokens": set(Invitation.objects.filter(campaign=campaign).values_list("token", flat=True)),
    }


def test_months_are_calendar_months():
    assert months_before(datetime(2026, 3, 31, 10, tzinfo=CANCUN), 1) == datetime(2026, 2, 28, 10, tzinfo=CANCUN)
    assert months_before(datetime(2024, 2, 29, tzinfo=CANCUN), 12) == datetime(2023, 2, 28, tzinfo=CANCUN)
    assert months_before(datetime(2026, 1, 15, tzinfo=CANCUN), 24) == datetime(2024, 1, 15, tzinfo=CANCUN)


def test_which_campaigns_are_due(people, make_campaign, settings):
    settings.RETENTION_MONTHS = 6
    past_event, recent_event = make_campaign(state=State.SENT), make_campaign(state=State.SENT)
    still_sending, cancelled_long_ago = make_campaign(state=State.SENDING), make_campaign(state=State.CANCELLED)
    cancelled_lately = make_campaign(state=State.CANCELLED)
    age(past_event, months=7)
    age(recent_event, months=5)
    age(still_sending, months=12)  # its queued messages still need their contents
    Campaign.objects.filter(pk=cancelled_long_ago.pk).update(starts_at=None,
                                                             state_changed_at=months_before(timezone.now(), 7))
    assert set(campaigns_due(retention_cutoff())) == {past_event, cancelled_long_ago}
    assert cancelled_lately not in campaigns_due(retention_cutoff())


def test_retention_purges_what_identifies_guests_and_keeps_the_counts(
        campaigns, client, people, django_capture_on_commit_callbacks):
    old, recent = campaigns
    before, recent_before = snapshot(old), snapshot(recent)
    walk_in_contact = Contact.objects.get(invitations__campaign=old, invitations__walk_in=True)
    directory_guest = Invitation.objects.filter(campaign=old, walk_in=False).order_by("pk").first().contact
    old_link = reverse("rsvp:invitation", args=[Invitation.objects.filter(campaign=old).first().token])
    spreadsheet = old.guest_list_file.file.name
    with django_capture_on_commit_callbacks(execute=True):
        out = StringIO()
        call_command("retention", stdout=out)

    after = snapshot(old)
    # Messages: same states and channels, no address and no contents.
    assert [m[:2] for m in after["messages"]] == [m[:2] for m in before["messages"]]
    assert all(address == "" and payload == {} for *_, address, payload in after["messages"])
    assert not InboundMessage.objects.filter(message__campaign=old).exclude(wa_id="").exists()
    # Answers and arrivals still add up; the staff's note (a name, a number) is gone.
    assert after["counts"] == before["counts"] and after["counts"]["arrived"] == 2 and after["counts"]["walk_ins"] == 1
    assert [a[:3] for a in after["answers"]] == [a[:3] for a in before["answers"]]
    assert all(note == "" for *_, note in after["answers"])
    # The old personal links open nothing any more.
    assert after["tokens"].isdisjoint(before["tokens"]) and client.get(old_link).status_code == 404
    # The person added at the door is erased; the directory's own guests are not.
    walk_in_contact.refresh_from_db()
    assert walk_in_contact.name == ERASED_NAME and walk_in_contact.organization == "" and walk_in_contact.erased_at
    directory_guest.refresh_from_db()
    assert directory_guest.name.startswith("Invitado") and directory_guest.mobile and not directory_guest.erased_at
    # The requester's spreadsheets are gone, from the page and from the disk.
    assert old.attachments.filter(kind=AttachmentKind.GUEST_LIST).count() == 0
    assert not default_storage.exists(spreadsheet)
    assert ImportBatch.objects.get(campaign=old).file.name == ""
    assert ImportIssue.objects.get(batch__campaign=old).values == []
    # One audit entry with the counts; the chain still checks out.
    entry = AuditEntry.objects.get(campaign=old, action=PURGE_ACTION)
    assert entry.data == {"messages": len(before["messages"]), "replies": 1, "notes": 1, "links": 5, "walk_ins": 1,
                          "files": 2, "months": 24}
    assert chain_verify().ok
    assert f"{old.folio} · Informe de gobierno 2023: 5 mensajes, 1 número de una respuesta por WhatsApp, 1 nota de " \
           "una respuesta, 5 enlaces personales, 1 persona registrada en la puerta, 2 archivos de invitados" \
           in out.getvalue()
    assert "Se depuró 1 solicitud." in out.getvalue()
    # The campaign whose event was 23 months ago is untouched.
    assert snapshot(recent) == recent_before
    assert recent.guest_list_file is not None and default_storage.exists(recent.guest_list_file.file.name)


def test_a_second_run_changes_nothing(campaigns):
    old, _recent = campaigns
    call_command("retention", stdout=StringIO())
    entries, purged = AuditEntry.objects.count(), snapshot(old)
    out = StringIO()
    call_command("retention", stdout=out)
    assert AuditEntry.objects.count() == entries and snapshot(old) == purged
    assert "Se depuraron 0 solicitudes." in out.getvalue()


def test_a_dry_run_says_what_would_go_and_changes_nothing(campaigns):
    old, _recent = campaigns
    before, entries = snapshot(old), AuditEntry.objects.count()
    out = StringIO()
    call_command("retention", "--dry-run", stdout=out)
    assert "5 mensajes" in out.getvalue() and "se depuraría 1 solicitud; no se cambió nada" in out.getvalue()
    assert snapshot(old) == before and AuditEntry.objects.count() == entries
    assert Contact.objects.filter(erased_at__isnull=False).count() == 0


def test_the_task_purges_too_with_webhooks_that_belong_to_no_campaign(campaigns):
    old, _recent = campaigns
    long_ago = months_before(timezone.now(), 25)
    WebhookEvent.objects.create(body=b'{"wa_id": "5219981000001"}', received_at=long_ago, processed_at=long_ago)
    WebhookEvent.objects.create(body=b"{}", received_at=long_ago)  # never applied: kept for the worker
    fresh = WebhookEvent.objects.create(body=b"{}", processed_at=timezone.now())
    InboundMessage.objects.create(provider_id="wamid.suelto", wa_id="5219987654321", kind="text", received_at=long_ago)
    result = retention_purge.enqueue().return_value
    assert result["campaigns"] == [old.folio] and result["webhooks"] == 1 and result["replies"] == 2
    assert WebhookEvent.objects.count() == 2 and WebhookEvent.objects.filter(pk=fresh.pk).exists()
    assert InboundMessage.objects.get(provider_id="wamid.suelto").wa_id == ""


def test_a_walk_in_invited_again_later_is_kept(campaigns, people):
    old, recent = campaigns
    contact = Contact.objects.get(invitations__campaign=old, invitations__walk_in=True)
    Invitation.objects.create(campaign=recent, contact=contact)  # Base de Datos invited her to a later event
    call_command("retention", stdout=StringIO())
    contact.refresh_from_db()
    assert contact.name == "Rosa Canché Poot" and not contact.erased_at
    assert AuditEntry.objects.get(campaign=old, action=PURGE_ACTION).data["walk_ins"] == 0
