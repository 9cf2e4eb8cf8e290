from django.db import migrations

# The completeness check of step 4 as the office starts with it; editable in the admin.
ITEMS = [
    ("Nombre del evento", "title"),
    ("Fecha y hora del evento", "starts_at"),
    ("Lugar del evento", "venue"),
    ("Imagen de la invitación (invitación digital)", "image"),
    ("Texto redactado de la invitación", "message"),
    ("Lista de invitados o sectores a invitar", "guests"),
    ("Fecha límite para confirmar asistencia", "rsvp_deadline"),
    ("La imagen y el texto cumplen con la imagen institucional y las políticas de difusión", "manual"),
]


def seed(apps, schema_editor):
    ChecklistItem = apps.get_model("campaigns", "ChecklistItem")
    if not ChecklistItem.objects.exists():
        ChecklistItem.objects.bulk_create(
            ChecklistItem(label=label, rule=rule, position=position) for position, (label, rule) in enumerate(ITEMS)
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
