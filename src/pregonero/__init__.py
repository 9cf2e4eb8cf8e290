"""Pregonero: the request-to-guest-list system of the Public Relations office."""
