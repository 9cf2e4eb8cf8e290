"""Behind nginx, the per-address limits count each client, not the proxy every request comes through."""

import pytest


@pytest.fixture
def behind_nginx(settings):
    settings.MIDDLEWARE = ["pregonero.proxy.RealClientAddressMiddleware", *settings.MIDDLEWARE]


def wrong_link(client, n: int, **headers):
    return client.get(f"/i/{'B' * 30}{n:02d}", REMOTE_ADDR="127.0.0.1", **headers)


@pytest.mark.django_db
def test_one_client_blocked_for_wrong_links_leaves_the_others_alone(client, behind_nginx):
    for n in range(20):
        assert wrong_link(client, n, HTTP_X_REAL_IP="203.0.113.7").status_code == 404
    assert wrong_link(client, 20, HTTP_X_REAL_IP="203.0.113.7").status_code == 429
    assert wrong_link(client, 21, HTTP_X_REAL_IP="198.51.100.2").status_code == 404
    assert wrong_link(client, 22, HTTP_X_REAL_IP="2001:db8::5").status_code == 404


@pytest.mark.django_db
def test_only_the_local_proxy_may_name_the_client(client, behind_nginx):
    for n in range(20):
        assert client.get(f"/i/{'C' * 30}{n:02d}", REMOTE_ADDR="203.0.113.7",
                          HTTP_X_REAL_IP=f"198.51.100.{n}").status_code == 404
    # Naming a different address on every request did not spread the direct client's misses.
    assert client.get(f"/i/{'C' * 32}", REMOTE_ADDR="203.0.113.7", HTTP_X_REAL_IP="192.0.2.1").status_code == 429
    # A header that is no address is ignored: the request counts as the proxy's own.
    assert wrong_link(client, 0, HTTP_X_REAL_IP="203.0.113.7, 10.0.0.1").status_code == 404
