from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

urlpatterns = [
    path("entrar/", views.SignInView.as_view(), name="login"),
    path("entrar/codigo/", views.second_step, name="second_step"),
    path("salir/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "contrasena/",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password_change_done")),
        name="password_change",
    ),
    path("contrasena/lista/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
