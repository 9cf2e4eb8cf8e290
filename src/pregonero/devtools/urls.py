from django.urls import path

from . import views

app_name = "devtools"

urlpatterns = [
    path("", views.mail_list, name="mail_list"),
    path("<int:pk>/", views.mail_detail, name="mail_detail"),
]
