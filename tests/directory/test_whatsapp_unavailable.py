from pregonero.directory.models import Contact, ContactEvent
from pregonero.directory.services import contact_create, contact_mark_whatsapp_unavailable


def test_a_number_without_whatsapp_stops_getting_whatsapp_but_keeps_email(people):
    contact = contact_create(actor=people.database, values={"name": "Raúl Uc", "mobile": "+529981112233",
                                                            "email": "raul@example.com"})
    assert contact_mark_whatsapp_unavailable(mobile="+529981112233") == 1
    assert contact_mark_whatsapp_unavailable(mobile="+529981112233") == 0
    contact.refresh_from_db()
    assert not contact.reachable_by_whatsapp and contact.reachable_by_email
    assert not Contact.objects.whatsapp_reachable().filter(pk=contact.pk).exists()
    assert ContactEvent.objects.filter(contact=contact, kind="whatsapp_unavailable").count() == 1
