from django.urls import path

from . import views

app_name = "intake"

urlpatterns = [
    path("", views.draft_list, name="inbox"),
    path("<int:pk>/", views.draft_detail, name="draft"),
    path("<int:pk>/registrar/", views.draft_register, name="register"),
    path("<int:pk>/unir/", views.draft_merge, name="merge"),
    path("<int:pk>/descartar/", views.draft_discard, name="discard"),
    path("<int:pk>/es-solicitud/", views.draft_restore, name="restore"),
    path("<int:pk>/agregar/", views.draft_follow_up, name="follow_up"),
    path("<int:pk>/acuse/", views.acknowledgement_again, name="acknowledge_again"),
    path("anexos/<int:pk>/", views.attachment_download, name="attachment"),
    path("mensajes/<int:pk>/original/", views.message_original, name="original"),
]
