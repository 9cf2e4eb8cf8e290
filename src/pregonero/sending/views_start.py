"""Before the real send: a test send to oneself, and a start scheduled for later."""

urlpatterns = []
