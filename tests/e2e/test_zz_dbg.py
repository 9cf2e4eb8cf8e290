import pytest, threading
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

def info(tag):
    from django.db import connections
    c = connections["default"]
    print(tag, id(c), hasattr(c, "_test_serialized_contents"), threading.current_thread().name)

@pytest.fixture(scope="session", autouse=True)
def early():
    info("session-start")

@pytest.mark.parametrize("i", [1, 2])
@pytest.mark.parametrize("login", [False, True])
def test_a(i, login, live_server, people, site):
    info(f"body {login} {i}")
    if login:
        site.login("cultura")
    info(f"body-after {login} {i}")
