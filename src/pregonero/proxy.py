"""Behind nginx every request reaches the app server from 127.0.0.1; nginx names the client in ``X-Real-IP``.

The per-address limits (wrong invitation links, failed sign-ins) need the client's address: without this, one
person's failures would lock out everybody. Only a request that came through the proxy on this machine may name
another address, so a client reaching the app server directly cannot pretend to be someone else.
"""

import ipaddress

LOCAL_PROXIES = {"127.0.0.1", "::1"}


class RealClientAddressMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        named = request.META.get("HTTP_X_REAL_IP", "").strip()
        if named and request.META.get("REMOTE_ADDR") in LOCAL_PROXIES:
            try:
                request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(named))
            except ValueError:
                pass
        return self.get_response(request)
