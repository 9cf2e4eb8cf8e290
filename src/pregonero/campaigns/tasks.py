from django.tasks import task

from .notifications import email_pending


@task()
def email_notifications(notification_ids: list[int]) -> int:
    return email_pending(notification_ids)
