import uuid

import pytest
from django.core.management import call_command

from pregonero.accounts.roles import Role
from pregonero.campaigns.services import campaign_create
from pregonero.directory.models import Contact


def test_demo_data_loads_once_and_prints_the_users_each_time(db, settings, tmp_path, capsys, django_user_model):
    settings.DATA_DIR = tmp_path
    call_command("demo_data")
    first = capsys.readouterr().out
    call_command("demo_data")
    second = capsys.readouterr().out
    for role in Role:
        assert django_user_model.objects.filter(groups__name=role.group_name).count() == 1
    assert Contact.objects.count() == 50
    assert all(c.mobile.startswith("+52998") and len(c.mobile) == 13 for c in Contact.objects.all())
    assert "directora" in first and "directora" in second
    password = second.split("directora")[1].split()[0]
    assert django_user_model.objects.get(username="directora").check_password(password)
    assert (tmp_path / "usuarios-demo.txt").stat().st_mode & 0o777 == 0o600


def test_demo_data_leaves_two_requests_in_the_assistants_inbox(db, settings, tmp_path, client, django_user_model):
    settings.DATA_DIR = tmp_path
    call_command("demo_data")
    call_command("demo_data")  # loading again adds nothing
    client.force_login(django_user_model.objects.get(username="asistente"))
    page = client.get("/recibidas/").content.decode()
    assert "Solicitud de difusión: Noche de Museos" in page
    assert "Hola, buenas tardes. ¿Nos apoyan con la difusión del Festival de Jazz" in page  # no subject: its text
    from pregonero.intake.models import Draft

    assert Draft.objects.filter(status=Draft.Status.OPEN, department__short_name="CULT").count() == 2


@pytest.mark.django_db(transaction=True)
def test_worker_sends_the_notice_queued_in_the_database(people, settings, inbox):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    campaign, _ = campaign_create(
        actor=people.requester, fields={"department": people.culture, "title": "Concierto"}, submission_key=uuid.uuid4()
    )
    assert inbox.to(people.assistant.email) == []  # queued, not sent, until a worker runs
    call_command("worker", "--batch", "--interval", "0")
    [mail] = inbox.to(people.assistant.email)
    assert campaign.folio in mail["Subject"]
