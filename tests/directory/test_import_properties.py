"""Property-based tests of the importer on generated messy sheets: whatever the rows, every row is accounted
for, nothing invalid is stored, and a re-import neither duplicates nor re-subscribes anyone."""

import csv
import io

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pregonero.directory import services
from pregonero.directory.importer import import_prepare, import_run
from pregonero.directory.models import Contact, ImportBatch

HEADER = ["Nombre", "Celular", "Correo", "Empresa", "Sector"]
names = st.one_of(
    st.sampled_from(["José Luis de la Cruz", "MARÍA DEL CARMEN PECH", "ana sofía canul", "Ing. Raúl Uc", "Itzel 🌺 May"]),
    st.text(min_size=0, max_size=30),
)
phones = st.one_of(
    st.integers(2_000_000_000, 9_999_999_999).map(str),
    st.integers(2_000_000_000, 9_999_999_999).map(lambda n: f"+52 1 ({str(n)[:3]}) {str(n)[3:6]}-{str(n)[6:]}"),
    st.integers(2_000_000_000, 9_999_999_999).map(lambda n: f"044 {n}"),
    st.sampled_from(["", "12345", "998 881 2800 ext. 9509", "+1 305 555 0123", "9.98123E+09", "=1+1"]),
    st.text(max_size=15),
)
emails = st.one_of(
    st.sampled_from(["", "no-es-correo", " JOSE@Ejemplo.MX ", "ana@dif.example; otra@dif.example"]),
    st.emails().map(str),
    st.text(max_size=20),
)
rows = st.lists(
    st.tuples(names, phones, emails, st.sampled_from(["", "CANACO", "=SUM(A1)"]),
              st.sampled_from(["", "Empresarios", "academia", "Desconocido"])),
    min_size=1, max_size=25,
)


def as_file(data, kind: str) -> tuple[bytes, str]:
    if kind == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(HEADER)
        writer.writerows(data)
        return text.getvalue().encode("utf-8"), "hoja.csv"
    workbook = Workbook()
    workbook.active.append(["Directorio"])
    workbook.active.append(HEADER)
    for row in data:
        workbook.active.append([ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in row])  # xlsx cannot hold them
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue(), "hoja.xlsx"


def run(content: bytes, name: str) -> ImportBatch:
    return import_run(import_prepare(file=io.BytesIO(content), filename=name, actor=None))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=rows, kind=st.sampled_from(["csv", "xlsx"]))
def test_every_row_is_accounted_for_and_nothing_invalid_is_stored(db, data, kind):
    Contact.objects.all().delete()
    ImportBatch.objects.all().delete()
    content, name = as_file(data, kind)
    try:
        batch = run(content, name)
    except Exception as error:  # an unreadable file is a clear refusal, never a crash
        assert type(error).__name__ == "UnreadableFile", error
        assert not Contact.objects.exists()
        return
    assert batch.status == ImportBatch.Status.DONE
    assert batch.created + batch.merged + batch.updated + batch.rejected == batch.rows_read
    assert Contact.objects.count() == batch.created
    for contact in Contact.objects.all():
        assert contact.name and (contact.mobile or contact.email or contact.office_phone)
        for number in filter(None, (contact.mobile, contact.office_phone)):
            assert phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert contact.email == contact.email.strip().lower()

    for contact in Contact.objects.all():
        services.contact_opt_out(contact=contact, whatsapp=True, email=True, source="prueba")
    again = run(content, name)
    assert again.created == 0
    assert not Contact.objects.filter(whatsapp_opt_out=False).exists()
    assert not Contact.objects.filter(email_opt_out=False).exists()
