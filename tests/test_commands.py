"""Every `pregonero` command of ours explains itself with --help (argparse needs plain strings)."""

from django.core.management import get_commands, load_command_class


def test_every_pregonero_command_has_working_help():
    ours = {name: app for name, app in get_commands().items() if app.startswith("pregonero")}
    assert {"worker", "embedded", "mailsink", "demo_data", "import-contacts", "whatsapp-emulator"} <= set(ours)
    for name, app in ours.items():
        text = load_command_class(app, name).create_parser("pregonero", name).format_help()
        assert "usage: pregonero" in text, name


def test_emulator_mode_is_announced_to_staff(client, people, settings):
    settings.WHATSAPP_EMULATOR = True
    client.force_login(people.social_media)
    assert "WhatsApp va al emulador local" in client.get("/").content.decode()
    settings.WHATSAPP_EMULATOR = False
    assert "WhatsApp va al emulador local" not in client.get("/").content.decode()
