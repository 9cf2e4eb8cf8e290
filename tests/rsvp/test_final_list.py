"""The final guest list: live counts after a real send, filters, the order, exports that are safe to open, sending
it to the requesting department once, and closing it."""

import csv
import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from html import unescape

import pytest
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from final_list_setup import ORDER, answer, sent_campaign
from pregonero.campaigns.models import AuditEntry, State
from pregonero.directory.models import Sector
from pregonero.rsvp.finallist import FinalListError, final_list_send
from pregonero.rsvp.models import Invitation
from pregonero.rsvp.services import AnswerRefused

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ("Sector", "Organización", "Tratamiento", "Nombre", "Cargo", "Respuesta", "Acompañantes",
          "Personas esperadas", "Respondió por", "Fecha de respuesta", "Recibió la invitación", "Llegó",
          "Acompañantes que llegaron", "Llegó sin invitación")


@pytest.fixture
def campaign(people, make_campaign, emulator, inbox):
    return sent_campaign(people, make_campaign)


def url(name, campaign, *args):
    return reverse(f"finallist:{name}", args=[campaign.folio, *args])


def counts_on_page(html: str) -> dict:
    """The figure under each label of the counts panel, as a person reads it."""
    return {key: int(value) for key, value in re.findall(r'data-count="(\w+)"[^>]*><dt>[^<]*</dt><dd>(\d+)', html)}


def names_in_table(html: str) -> list[str]:
    body = html.split('id="final-table"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<tr data-answer=\"\w+\"><td>.*?</td><td>.*?</td>\s*<td>(.*?)</td>", body, re.S)
    return [re.sub(r"<.*?>", "", cell).replace("Lic. ", "").replace("Ing. ", "").strip() for cell in cells]


def download(client, campaign, fmt, **params) -> bytes:
    response = client.get(url("download", campaign, fmt), params)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_counts_after_a_real_send_and_answers(client, people, campaign):
    client.force_login(people.database)
    page = client.get(url("page", campaign)).content.decode()

    assert counts_on_page(page) == {"invited": 11, "reached": 10, "attending": 3, "expected": 6, "declined": 2,
                                    "pending": 6}
    assert "1 sin recibirla" in page  # Invitado 1: WhatsApp said the number is not on WhatsApp
    assert "+ 3 acompañantes" in page


def test_the_table_is_sorted_by_sector_then_organization(client, people, campaign):
    client.force_login(people.social_media)
    page = client.get(url("page", campaign)).content.decode()
    assert [unescape(name) for name in names_in_table(page)] == ORDER


def test_filters_by_sector_organization_and_answer(client, people, campaign):
    client.force_login(people.director)
    business = Sector.objects.get(name="Empresarios")

    page = client.get(url("page", campaign), {"sector": business.pk}).content.decode()
    assert names_in_table(page) == ["Invitado 1", "Invitado 0", "Invitado 2"]
    assert counts_on_page(page) == {"invited": 3, "reached": 2, "attending": 1, "expected": 3, "declined": 1,
                                    "pending": 1}
    assert "Cifras de la selección" in page

    page = client.get(url("page", campaign), {"organizacion": "universidad"}).content.decode()
    assert names_in_table(page) == ["Ambos 0", "Baja 0"]

    page = client.get(url("page", campaign), {"respuesta": "attending"}).content.decode()
    assert names_in_table(page) == ["Invitado 0", "Ambos 0", "Invitado 3"]

    page = client.get(url("page", campaign), {"sector": "9999", "respuesta": "maybe"}).content.decode()
    assert "Uno de los filtros no es válido" in page and len(names_in_table(page)) == 11


def test_xlsx_export_is_sorted_and_neutralises_formulas(client, people, campaign):
    client.force_login(people.database)
    sheet = load_workbook(io.BytesIO(download(client, campaign, "xlsx"))).active
    rows = list(sheet.iter_rows(values_only=True))

    assert rows[0] == HEADER
    names = [row[3] for row in rows[1:]]
    assert names == ["'" + name if name[0] in "=@" else name for name in ORDER]
    by_name = {row[3]: row for row in rows[1:]}
    assert by_name["'=HYPERLINK(\"http://x\")"][1] == "'+SUM(1)"
    assert by_name["'@cmd"][1] == "'-1+2"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no cell is a formula
    assert by_name["Invitado 0"][5:8] == ("Asistirá", 2, 3) and by_name["Invitado 0"][8] == "Botón de WhatsApp"
    assert by_name["Invitado 2"][5:8] == ("No asistirá", 0, 0)
    assert by_name["Invitado 1"][10] == "No" and by_name["Invitado 0"][10] == "Sí"
    assert by_name["Invitado 5"][0] is None  # no sector: an empty cell, listed last
    cells = [str(cell) for row in rows for cell in row if cell is not None]
    assert not any("+52998" in cell or "@example.com" in cell for cell in cells)  # no numbers, no e-mails


def test_csv_export_opens_in_excel_and_neutralises_formulas(client, people, campaign):
    client.force_login(people.database)
    content = download(client, campaign, "csv", respuesta="")
    assert content.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))

    assert tuple(rows[0]) == HEADER and len(rows) == 12
    by_name = {row[3]: row for row in rows[1:]}
    assert by_name["'=HYPERLINK(\"http://x\")"][1] == "'+SUM(1)"
    assert by_name["'@cmd"][1] == "'-1+2"
    assert by_name["Ambos 0"][0:2] == ["Academia", "Universidad del Caribe"]
    assert by_name["Ambos 0"][5:8] == ["Asistirá", "1", "2"]


def test_exports_follow_the_filters(client, people, campaign):
    client.force_login(people.database)
    content = download(client, campaign, "csv", sector=Sector.objects.get(name="Medios").pk)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert [row[3] for row in rows[1:]] == ["Invitado 4", "Invitado 3"]


def test_printable_list_for_the_door(client, people, campaign):
    client.force_login(people.database)
    response = client.get(url("print", campaign), {"respuesta": "attending"})
    html = b"".join(response.streaming_content).decode()

    assert response.status_code == 200 and "@media print" in html
    assert html.count('class="box"') == 1 + 3  # the header cell and one box to tick per guest
    assert html.index("Empresarios") < html.index("Invitado 0") < html.index("Academia") < html.index("Ambos 0") \
        < html.index("Medios") < html.index("Invitado 3")
    assert "Asistirán: <strong>3</strong>" in html and "<strong>6</strong>" in html  # with their companions
    assert "solo quienes asistirán" in html


def test_printable_list_escapes_names(client, people, campaign):
    invitation = Invitation.objects.get(campaign=campaign, contact__name="Invitado 5")
    invitation.contact.name = "<script>alert(1)</script>"
    invitation.contact.save(update_fields=["name"])
    client.force_login(people.database)
    html = b"".join(client.get(url("print", campaign)).streaming_content).decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def sent_to_department(inbox):
    return [m for m in inbox.to("cultura@pregonero.example") if list(m.iter_attachments())]


def test_the_requester_gets_the_list_once_on_a_double_click(client, people, campaign, inbox):
    client.force_login(people.database)
    first = client.post(url("send", campaign), follow=True).content.decode()
    second = client.post(url("send", campaign), follow=True).content.decode()

    assert "Se envió la lista final a Dirección de Cultura" in first
    assert "La lista final se acaba de enviar" in second
    [mail] = sent_to_department(inbox)
    assert campaign.folio in mail["Subject"] and "Asistirán: 3" in mail.get_body(("plain",)).get_content()
    attachment = next(mail.iter_attachments())
    assert attachment.get_filename() == f"lista-final-{campaign.folio}.xlsx"
    assert attachment.get_content_type() == XLSX
    rows = list(load_workbook(io.BytesIO(attachment.get_content())).active.iter_rows(values_only=True))
    assert rows[0] == HEADER and len(rows) == 12
    entry = AuditEntry.objects.get(campaign=campaign, action="finallist.send")
    assert entry.actor == people.database and entry.data["rows"] == 11 and entry.data["counts"]["attending"] == 3
    detail = client.get(reverse("campaigns:detail", args=[campaign.folio])).content.decode()
    assert "Envió la lista final a la dirección" in detail  # the timeline names the act
    assert "Envió a Dirección de Cultura la lista final: 11 invitados, 3 asistirán." in detail


@pytest.mark.django_db(transaction=True)
def test_two_colleagues_sending_at_once_send_one_email(people, make_campaign, emulator, inbox):
    campaign = sent_campaign(people, make_campaign)
    barrier = threading.Barrier(2)

    def send(_):
        try:
            barrier.wait(timeout=10)
            return final_list_send(campaign=campaign, actor=people.database).pk
        except FinalListError:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(send, range(2)))
    assert results.count(None) == 1
    assert AuditEntry.objects.filter(action="finallist.send").count() == 1
    assert len(sent_to_department(inbox)) == 1


def test_closing_moves_to_closed_and_freezes_the_list(client, people, campaign):
    client.force_login(people.database)
    page = client.get(url("page", campaign)).content.decode()
    assert "Cerrar lista final" in page

    response = client.post(url("close", campaign), {"expected_state": "sent", "comment": ""}, follow=True)
    page = response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == State.CLOSED
    assert "Lista final cerrada" in page and "ya no se registran respuestas" in page
    assert 'action="%s"' % url("close", campaign) not in page
    assert AuditEntry.objects.filter(campaign=campaign, action="campaign.close", actor=people.database).exists()
    with pytest.raises(AnswerRefused):
        answer(campaign, "Invitado 4", Invitation.Answer.ATTENDING)
    assert counts_on_page(client.get(url("page", campaign)).content.decode())["attending"] == 3
    # Sending the closed list to the department is still possible.
    assert "Enviar a la dirección solicitante" in page


@pytest.mark.parametrize("role", ["social_media", "director", "requester"])
def test_only_the_database_team_closes_and_sends(client, people, campaign, role, inbox):
    client.force_login(getattr(people, role))
    page = client.get(url("page", campaign)).content.decode()
    assert "Cerrar lista final" not in page and "Enviar a la dirección solicitante" not in page
    assert client.post(url("close", campaign), {"expected_state": "sent"}).status_code == 403
    assert client.post(url("send", campaign)).status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == State.SENT and not sent_to_department(inbox)


def test_the_requester_reads_the_list_of_their_own_department_only(client, people, campaign):
    client.force_login(people.requester)
    detail = client.get(reverse("campaigns:detail", args=[campaign.folio])).content.decode()
    assert url("page", campaign) in detail and reverse("reports:campaign", args=[campaign.folio]) in detail
    page = client.get(url("page", campaign)).content.decode()
    assert counts_on_page(page)["attending"] == 3
    assert client.get(url("download", campaign, "xlsx")).status_code == 200

    client.force_login(people.other_requester)
    for response in (client.get(url("page", campaign)), client.get(url("download", campaign, "csv")),
                     client.get(url("print", campaign)), client.post(url("send", campaign)),
                     client.post(url("close", campaign), {"expected_state": "sent"})):
        assert response.status_code == 404


def test_the_counts_are_live(client, people, campaign):
    client.force_login(people.database)
    answer(campaign, "Invitado 4", Invitation.Answer.ATTENDING, 3)
    counts = counts_on_page(client.get(url("page", campaign)).content.decode())
    assert counts["attending"] == 4 and counts["expected"] == 10 and counts["pending"] == 5


def test_an_unknown_format_is_not_found(client, people, campaign):
    client.force_login(people.database)
    assert client.get(url("download", campaign, "pdf")).status_code == 404


def test_before_the_send_the_page_says_the_list_is_not_there_yet(client, people, make_campaign):
    campaign = make_campaign("ready")
    client.force_login(people.database)
    page = client.get(url("page", campaign)).content.decode()
    assert "La lista final se forma al iniciar el envío masivo" in page
    assert counts_on_page(page)["invited"] == 0 and "Enviar a la dirección solicitante" not in page
    assert client.post(url("close", campaign), {"expected_state": "ready"}, follow=True).status_code == 200
    campaign.refresh_from_db()
    assert campaign.state == State.READY
