"""Consent is recorded on every contact: each way a person enters the directory stores a basis, a source and a
date. Without a basis stated the consent is tacit (every message carries the notice and the way to opt out)."""

import io
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

import pregonero
from pregonero.campaigns.models import State
from pregonero.devtools.demo import demo_ready_campaign
from pregonero.directory.guestlists import guest_list_add_late, guest_list_for
from pregonero.directory.importer import import_prepare, import_run
from pregonero.directory.models import Contact
from pregonero.rsvp.checkin import walk_in
from pregonero.sending.services import send_start

pytestmark = pytest.mark.django_db

# Every place in the code that creates contacts, and how it records consent. A new one fails the first test
# until it is added here, with a test of its own below.
CREATION_PATHS = {
    "directory/services.py": "contact_create: the manual form, the door's walk-ins (tests below)",
    "directory/import_writer.py": "imports, in bulk (test below)",
    "devtools/demo.py": "made-up people for the demonstration, never real ones",
    "sending/prestart.py": "the tester as an unsaved guest of a test send: never stored",
}


def consent_of(contact: Contact) -> tuple:
    return contact.consent_basis, contact.consent_source, contact.consent_date


def test_the_creation_paths_are_the_known_ones():
    source = Path(pregonero.__file__).parent
    creating = re.compile(r"Contact\.objects\.(create|bulk_create|get_or_create|update_or_create)\("
                          r"|(?<![\w.])(?<!class )Contact\(|insert_rows\(Contact\b")
    found = {path.relative_to(source).as_posix() for path in source.rglob("*.py")
             if "migrations" not in path.parts and creating.search(path.read_text())}
    assert found == set(CREATION_PATHS)


def test_manual_form_records_tacit_consent_unless_a_basis_is_given(client, people):
    client.force_login(people.database)
    empty = {name: "" for name in ("honorific", "position", "organization", "tags", "mobile", "office_phone",
                                   "office_extension", "email", "consent_basis", "consent_source", "consent_date",
                                   "notes", "opt_out_source", "renewed_consent_source", "renewed_consent_date")}
    client.post(reverse("directory:contact_new"), {**empty, "name": "Laura Chan", "mobile": "9981239876"})
    client.post(reverse("directory:contact_new"), {**empty, "name": "Marcos Dzib", "email": "marcos@gob.example",
                                                   "consent_basis": "public_role",
                                                   "consent_source": "Directorio estatal 2026"})
    today = timezone.localdate()
    assert consent_of(Contact.objects.get(name="Laura Chan")) == (
        "consent", "Captura manual (consentimiento tácito)", today)
    assert consent_of(Contact.objects.get(name="Marcos Dzib")) == ("public_role", "Directorio estatal 2026", today)


def spreadsheet(rows) -> bytes:
    workbook = Workbook()
    workbook.active.append(["Nombre", "Celular", "Autoriza"])
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_import_records_the_stated_consent_or_tacit_consent(people):
    data = spreadsheet([["Rosa Pech", "9981110001", "Sí"], ["Juan Uc", "9981110002", ""]])
    batch = import_run(import_prepare(file=io.BytesIO(data), filename="eventos.xlsx", actor=people.database))
    assert batch.created == 2
    today = timezone.localdate()
    assert consent_of(Contact.objects.get(name="Rosa Pech")) == ("consent", batch.provenance, today)
    assert consent_of(Contact.objects.get(name="Juan Uc")) == (
        "consent", f"{batch.provenance} (consentimiento tácito)", today)


def test_the_door_and_a_late_guest_record_it_too(people, make_campaign):
    campaign = demo_ready_campaign(campaign=make_campaign(state=State.READY), author=people.social_media,
                                   whatsapp=1, email_only=0, both=0, opted_out_whatsapp=0)
    send_start(campaign=campaign, actor=people.social_media)
    campaign.refresh_from_db()
    arrived = walk_in(campaign=campaign, name="Rosa Canché", actor=people.social_media).check_in.invitation.contact
    assert consent_of(arrived) == (
        "consent", f"Llegó sin invitación a {campaign.folio} (consentimiento tácito)", timezone.localdate())
    # A late guest is someone already in the directory (with their consent): nobody new is created.
    late = Contact.objects.create(name="Invitado tardío", mobile="+529981110009", consent_basis="public_role",
                                  consent_source="Directorio estatal", consent_date=timezone.localdate())
    count = Contact.objects.count()
    assert guest_list_add_late(guest_list=guest_list_for(campaign), actor=people.database, contact=late)
    assert Contact.objects.count() == count
    assert all(contact.consent_basis and contact.consent_source and contact.consent_date
               for contact in Contact.objects.filter(invitations__campaign=campaign, invitations__walk_in=True))
