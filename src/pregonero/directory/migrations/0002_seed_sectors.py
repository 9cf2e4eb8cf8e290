from django.db import migrations

# The office's sectors as of the 2025 manual; the list stays editable in the admin.
SECTORS = [
    "Empresarios", "ONGs", "Gobierno federal", "Gobierno estatal", "Gobierno municipal", "Academia", "Medios",
    "Sociedad civil",
]


def seed(apps, schema_editor):
    Sector = apps.get_model("directory", "Sector")
    for position, name in enumerate(SECTORS):
        Sector.objects.get_or_create(name=name, defaults={"position": position})


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
