"""The directory's pages; each area keeps its own views module and URL list."""

from . import arco_views, contacts_views, guestlists_views, imports_views

app_name = "directory"

urlpatterns = [
    *contacts_views.urlpatterns,
    *imports_views.urlpatterns,
    *guestlists_views.urlpatterns,
    *arco_views.urlpatterns,
]
