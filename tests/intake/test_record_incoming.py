"""record_incoming, the one door for both channels: a message is stored once with its files, and a message that
could not be stored leaves no file behind (the .eml and attachments are written before the rows commit)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models.signals import post_save

from pregonero.intake.models import Draft, IncomingAttachment, IncomingMessage
from pregonero.intake.services import Incoming, IncomingFile, record_incoming

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def files_on_disk(root) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def request_mail(external_id="solicitud-1@cultura.example") -> Incoming:
    return Incoming(
        source="email", external_id=external_id, sender_address="cultura@pregonero.example",
        subject="Solicitud de difusión", body="Adjunto oficio e invitación.", raw=b"From: x\r\n\r\ncuerpo\r\n",
        files=[IncomingFile("oficio.pdf", "application/pdf", PDF, "scan"),
               IncomingFile("lista.csv", "text/csv", b"nombre\nAna\n")],
    )


@pytest.mark.django_db
def test_a_message_that_fails_half_written_leaves_no_file_on_disk(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    def fail_at_the_second_file(sender, instance, **kwargs):  # fault injection: the database refuses a row
        if instance.original_name == "lista.csv":
            raise RuntimeError("the database went away")

    post_save.connect(fail_at_the_second_file, sender=IncomingAttachment)
    try:
        with pytest.raises(RuntimeError):
            record_incoming(request_mail())
    finally:
        post_save.disconnect(fail_at_the_second_file, sender=IncomingAttachment)

    assert not IncomingMessage.objects.exists() and not Draft.objects.exists()
    assert files_on_disk(tmp_path) == set()

    message, created = record_incoming(request_mail())  # the next poll stores it whole
    assert created and message.attachments.count() == 2
    assert files_on_disk(tmp_path) == {message.raw.name, *(a.file.name for a in message.attachments.all())}


@pytest.mark.django_db
def test_a_very_long_id_is_still_recognised_the_second_time():
    first, created = record_incoming(request_mail(external_id="x" * 400))
    again, created_again = record_incoming(request_mail(external_id="x" * 400))
    assert (created, created_again, again.pk) == (True, False, first.pk)


@pytest.mark.django_db(transaction=True)
def test_the_same_message_stored_at_once_by_two_workers_is_stored_once_with_one_set_of_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    barrier = threading.Barrier(3)

    def store():
        try:
            barrier.wait(timeout=10)
            message, created = record_incoming(request_mail())
            return message.pk, created
        finally:
            connection.close()

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda _n: store(), range(3)))

    assert sorted(created for _pk, created in outcomes) == [False, False, True]
    assert len({pk for pk, _created in outcomes}) == 1
    message = IncomingMessage.objects.get()
    assert Draft.objects.count() == 1
    assert files_on_disk(tmp_path) == {message.raw.name, *(a.file.name for a in message.attachments.all())}


@pytest.mark.django_db(transaction=True)
def test_two_first_whatsapp_messages_of_one_sender_at_once_make_one_draft():
    """A department writes its request as a text and a photo a second apart; two workers apply the two webhooks
    at the same moment. Both messages land on one draft, not on two drafts the assistant would have to merge."""
    barrier = threading.Barrier(2)

    def slow_commit(sender, instance, created, **kwargs):  # widens the window between the lookup and the commit
        if created:
            threading.Event().wait(0.3)

    def store(n):
        try:
            barrier.wait(timeout=10)
            message, _created = record_incoming(Incoming(
                source="whatsapp", external_id=f"wamid.simultaneo-{n}", sender_address="5219981112233",
                sender_name="Cultura", body=f"Parte {n} de la solicitud",
            ))
            return message.draft_id
        finally:
            connection.close()

    post_save.connect(slow_commit, sender=Draft)
    try:
        with ThreadPoolExecutor(2) as pool:
            drafts = list(pool.map(store, range(2)))
    finally:
        post_save.disconnect(slow_commit, sender=Draft)

    assert drafts[0] == drafts[1] and Draft.objects.count() == 1
    assert IncomingMessage.objects.filter(draft_id=drafts[0]).count() == 2
