"""Helpers for authsession's gRPC API (``galaxy.authsession.v1``)."""
