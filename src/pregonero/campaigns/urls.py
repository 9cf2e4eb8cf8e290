from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("solicitudes/", views.campaign_list, name="list"),
    path("solicitudes/nueva/", views.campaign_new, name="new"),
    path("solicitudes/<str:folio>/", views.campaign_detail, name="detail"),
    path("solicitudes/<str:folio>/accion/<slug:name>/", views.campaign_act, name="act"),
    path("solicitudes/<str:folio>/revision/", views.campaign_checklist, name="checklist"),
    path("solicitudes/<str:folio>/responder/", views.campaign_answer, name="answer"),
    path("solicitudes/<str:folio>/prueba/", views.proof_edit, name="proof_edit"),
    path("solicitudes/<str:folio>/prueba/plantillas/", views.proof_templates_sync, name="proof_templates_sync"),
    path("solicitudes/<str:folio>/prueba/v<int:version>/", views.proof_detail, name="proof_detail"),
    path("solicitudes/<str:folio>/anexos/<int:pk>/", views.attachment_download, name="attachment"),
    path("avisos/", views.notifications, name="notifications"),
    path("procedimiento/", views.procedure, name="procedure"),
]
