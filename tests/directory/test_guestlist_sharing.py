"""Step 7: the database team sends the requesting department its guest list, with only the fields it needs."""

import io
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from pregonero.campaigns.models import AuditEntry, Notification
from pregonero.directory.guestlist_sharing import guest_list_share
from pregonero.directory.guestlists import GuestListError, guest_list_confirm, guest_list_for
from pregonero.directory.models import Contact, Sector

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def confirmed(people, make_campaign):
    """An authorized request of Cultura with a confirmed list of three people (and one left out)."""
    campaign = make_campaign("authorized")
    business = Sector.objects.get(name="Empresarios")
    rows = [
        ("Lic.", "Ana Canul", "Directora", "Hotel Sol", "+529981000001", "ana@sol.example"),
        ("Ing.", "=HYPERLINK(\"http://x.example\")", "Gerente", "-Cadena", "+529981000002", ""),
        ("", "Luis Pech", "", "", "", "luis@pech.example"),
        ("", "Sin medio", "", "", "", ""),
    ]
    for honorific, name, position, organization, mobile, email in rows:
        contact = Contact.objects.create(honorific=honorific, name=name, position=position, organization=organization,
                                         mobile=mobile, email=email, consent_source="Formulario 2025")
        contact.sectors.add(business)
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([business])
    guest_list_confirm(guest_list=guest_list, actor=people.database)
    return campaign


def share(client, campaign, **kwargs):
    return client.post(reverse("directory:guest_list_share", args=[campaign.folio]), follow=True, **kwargs)


def sheet_rows(content: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


def test_the_department_receives_only_the_needed_fields(client, people, confirmed, inbox,
                                                        django_capture_on_commit_callbacks):
    client.force_login(people.database)
    page = client.get(reverse("directory:guest_list_share", args=[confirmed.folio])).content.decode()
    assert "3 personas que recibirán la invitación" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = share(client, confirmed)
    assert "Se envió la lista (3 personas) a Dirección de Cultura." in response.content.decode()

    mails = inbox.to("cultura@pregonero.example")  # the department's address (also its requester's)
    shared = [m for m in mails if list(m.iter_attachments())]
    assert len(shared) == 1 and confirmed.folio in shared[0]["Subject"]
    attachment = next(shared[0].iter_attachments())
    assert attachment.get_filename() == f"invitados-{confirmed.folio}.xlsx" and attachment.get_content_type() == XLSX
    rows = sheet_rows(attachment.get_content())
    assert rows[0] == ("Tratamiento", "Nombre", "Cargo", "Organización", "Sector")
    assert len(rows) == 4  # the three invited; the one no channel reaches is not
    cells = [str(cell) for row in rows for cell in row if cell is not None]
    assert not any("+52" in cell for cell in cells)
    assert not any("@" in cell for cell in cells)  # no e-mail address anywhere
    assert not any("Formulario" in cell for cell in cells)  # no consent data
    assert ("Lic.", "Ana Canul", "Directora", "Hotel Sol", "Empresarios") in rows
    assert "'=HYPERLINK(\"http://x.example\")" in cells and "'-Cadena" in cells  # formulas neutralised

    entry = AuditEntry.objects.get(campaign=confirmed, action="guestlist.share")
    assert entry.actor == people.database and entry.data["rows"] == 3
    assert entry.data["fields"] == ["honorific", "name", "position", "organization", "sectors"]
    assert Notification.objects.filter(audit_entry=entry, recipient=people.requester).exists()
    assert not Notification.objects.filter(audit_entry=entry, recipient=people.other_requester).exists()
    guest_list = guest_list_for(confirmed)
    assert guest_list.shared_at is not None


def test_only_the_departments_requesters_download_it(client, people, confirmed):
    client.force_login(people.requester)
    share_url = reverse("directory:guest_list_share", args=[confirmed.folio])
    file_url = reverse("directory:guest_list_shared_file", args=[confirmed.folio])
    assert "aún no le ha compartido" in client.get(share_url).content.decode()
    assert client.get(file_url).status_code == 404
    client.force_login(people.database)
    share(client, confirmed)

    client.force_login(people.requester)
    page = client.get(share_url).content.decode()
    assert file_url in page
    response = client.get(file_url)
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    rows = sheet_rows(b"".join(response.streaming_content))
    assert rows[0] == ("Tratamiento", "Nombre", "Cargo", "Organización", "Sector") and len(rows) == 4
    for outsider in (people.other_requester, people.social_media, people.database):
        client.force_login(outsider)
        assert client.get(file_url).status_code == 404
    client.force_login(people.other_requester)
    assert client.get(share_url).status_code == 404
    client.force_login(people.requester)
    assert client.post(share_url).status_code == 403  # requesters download; they do not send
    client.force_login(people.director)
    page = client.get(share_url).content.decode()
    assert "Envíos a la dirección" in page and "Enviar la lista a" not in page


def test_an_unconfirmed_list_is_not_shared(client, people, make_campaign, inbox):
    campaign = make_campaign("authorized")
    client.force_login(people.database)
    response = share(client, campaign)
    assert "Confirme la lista antes de enviarla" in response.content.decode()
    assert not inbox.messages and not AuditEntry.objects.filter(action="guestlist.share").exists()


def test_a_double_click_sends_once(client, people, confirmed, inbox):
    client.force_login(people.database)
    share(client, confirmed)
    response = share(client, confirmed)
    assert "La lista se acaba de enviar" in response.content.decode()
    assert AuditEntry.objects.filter(action="guestlist.share").count() == 1
    assert len([m for m in inbox.to("cultura@pregonero.example") if list(m.iter_attachments())]) == 1


def test_a_mail_server_failure_records_nothing(client, people, confirmed, settings):
    with socket.socket() as closed:  # a port nobody listens on once this socket closes
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2}}}
    client.force_login(people.database)
    response = share(client, confirmed)
    assert "No se pudo enviar el correo" in response.content.decode()
    assert not AuditEntry.objects.filter(action="guestlist.share").exists()
    assert guest_list_for(confirmed).shared_at is None


@pytest.mark.django_db(transaction=True)
def test_two_colleagues_sharing_at_once_send_one_email(people, make_campaign, inbox):
    campaign = make_campaign("authorized")
    business, _created = Sector.objects.get_or_create(name="Empresarios")  # the flush of other tests may drop it
    contact = Contact.objects.create(name="Ana Canul", mobile="+529981000001")
    contact.sectors.add(business)
    guest_list = guest_list_for(campaign)
    guest_list.include_sectors.set([business])
    guest_list_confirm(guest_list=guest_list, actor=people.database)
    barrier = threading.Barrier(2)

    def send(_):
        try:
            barrier.wait(timeout=10)
            return guest_list_share(guest_list=guest_list, actor=people.database).pk
        except GuestListError:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(send, range(2)))
    assert results.count(None) == 1
    assert AuditEntry.objects.filter(action="guestlist.share").count() == 1
    assert len([m for m in inbox.to("cultura@pregonero.example") if list(m.iter_attachments())]) == 1
