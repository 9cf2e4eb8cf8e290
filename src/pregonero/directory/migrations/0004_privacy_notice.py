"""Privacy notices (simplified and full) as editable, versioned texts, seeded with the office's first version.

The texts are the starting point the office adapts in the admin (the municipality's name and address, the
transparency unit): "H. Ayuntamiento" stands for the city hall. {correo} and {meses} are filled in when shown.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

SIMPLIFIED = """\
Responsable: el H. Ayuntamiento, por medio de su Dirección de Relaciones Públicas, es responsable del tratamiento de los datos personales que se usan para enviar invitaciones a eventos oficiales.

Finalidad: sus datos de contacto (nombre, tratamiento, cargo, organización, celular y correo electrónico) se usan solo para invitarle a eventos oficiales del Municipio, registrar su confirmación y su asistencia, y avisarle de cambios en esos eventos. No se le piden datos personales sensibles.

Transferencias: sus datos no se transfieren a terceros, salvo cuando lo exija una ley o lo ordene una autoridad competente. La dirección municipal que organiza un evento solo conoce el nombre, el cargo y la organización de sus invitados.

Sus derechos (ARCO): puede solicitar el acceso, la rectificación o la cancelación de sus datos, u oponerse a su tratamiento, escribiendo a {correo} o ante la Unidad de Transparencia del H. Ayuntamiento.

Si no desea recibir más invitaciones, use el enlace «No deseo recibir más invitaciones» de su invitación, responda BAJA por WhatsApp o escriba a {correo}.
"""

FULL = """\
Responsable: el H. Ayuntamiento, por medio de su Dirección de Relaciones Públicas, con domicilio en el Palacio Municipal, es responsable del tratamiento de los datos personales de su directorio de invitados, conforme a la Ley General de Protección de Datos Personales en Posesión de Sujetos Obligados y a la legislación estatal en la materia.

Datos personales que se tratan: nombre, tratamiento (Lic., Ing., Dra., etc.), cargo, organización, sector al que pertenece, teléfono celular, teléfono de oficina y correo electrónico; sus respuestas a cada invitación (si asistirá y con cuántos acompañantes) y el registro de su llegada al evento. No se tratan datos personales sensibles.

Finalidades: a) invitarle a eventos oficiales del Municipio por WhatsApp o por correo electrónico; b) registrar su confirmación de asistencia y el número de sus acompañantes; c) registrar su llegada el día del evento; d) avisarle de cambios o de la cancelación de un evento; e) elaborar estadísticas de asistencia que no le identifican.

Fundamento: el tratamiento se realiza en ejercicio de las atribuciones que el reglamento interior de la administración pública municipal confiere a la Dirección de Relaciones Públicas para la organización de los actos oficiales y las relaciones con la sociedad, y conforme a la ley general citada.

Origen de los datos y consentimiento: sus datos provienen de usted, de directorios institucionales o de la dirección municipal que organiza un evento, y en cada contacto se registran su origen y su fecha. Cada mensaje que le enviamos incluye el vínculo a este aviso y la forma de dejar de recibir invitaciones; si no manifiesta su negativa, se entiende que consiente el tratamiento para las finalidades descritas.

Transferencias: no se realizan transferencias de datos personales que requieran su consentimiento. Sus datos solo se comunicarán a otras autoridades cuando lo exija una ley o lo ordene una autoridad competente. Los mensajes se entregan por medio de los proveedores de WhatsApp y de correo electrónico, que actúan por cuenta del H. Ayuntamiento.

Conservación: los mensajes de cada evento, las notas sobre las respuestas y el registro de las personas que llegaron sin invitación se conservan {meses} meses después del evento; después se eliminan y solo quedan cifras para estadística. Sus datos de contacto permanecen en el directorio mientras no solicite su cancelación.

Derechos ARCO: usted puede acceder a sus datos personales, rectificarlos, cancelarlos u oponerse a su tratamiento. Presente su solicitud por escrito ante la Unidad de Transparencia del H. Ayuntamiento, en el Palacio Municipal en días y horas hábiles, por correo electrónico a {correo} o por medio de la Plataforma Nacional de Transparencia. La solicitud debe indicar su nombre y un medio para recibir notificaciones, acompañar los documentos que acrediten su identidad o la de su representante, y describir los datos y el derecho que desea ejercer. Recibirá respuesta en un plazo máximo de 20 días hábiles contados desde el día siguiente a la recepción de su solicitud.

Dejar de recibir invitaciones: en cualquier momento, con el enlace «No deseo recibir más invitaciones» de su invitación, respondiendo BAJA por WhatsApp o escribiendo a {correo}. Su baja se respeta en todos los envíos posteriores.

Cambios a este aviso: cualquier cambio se publicará en esta misma página, con su número de versión y su fecha de publicación.
"""


def seed(apps, schema_editor):
    PrivacyNotice = apps.get_model("directory", "PrivacyNotice")
    for kind, text in (("simplified", SIMPLIFIED), ("full", FULL)):
        if not PrivacyNotice.objects.filter(kind=kind).exists():
            PrivacyNotice.objects.create(kind=kind, version=1, text=text.strip())


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0003_directory_model"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PrivacyNotice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("simplified", "Simplificado"), ("full", "Integral")],
                                          max_length=10, verbose_name="aviso")),
                ("version", models.PositiveIntegerField(editable=False, verbose_name="versión")),
                ("text", models.TextField(
                    help_text="Texto sin formato: una línea en blanco separa los párrafos. {correo} se sustituye por "
                              "el correo para asuntos de privacidad y {meses} por el plazo de conservación de la "
                              "configuración.",
                    verbose_name="texto")),
                ("published_at", models.DateTimeField(default=django.utils.timezone.now, editable=False,
                                                      verbose_name="publicado el")),
                ("published_by", models.ForeignKey(blank=True, editable=False, null=True,
                                                   on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                                   to=settings.AUTH_USER_MODEL, verbose_name="publicado por")),
            ],
            options={
                "verbose_name": "aviso de privacidad",
                "verbose_name_plural": "avisos de privacidad",
                "ordering": ["kind", "-version"],
                "constraints": [models.UniqueConstraint(fields=("kind", "version"),
                                                        name="privacy_notice_version_once")],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
