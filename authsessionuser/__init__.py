"""The authsession ↔ user boundary suite: real authsession and the real user service, with the gateway as the
public edge.

Its parts are gatewayauthsession's with the real user service standing in for the user stub (``topology.py``):
a login resolves (or creates) its user at the user service, and disabling a user there ends every session of it
at authsession, through whatever befalls the link between them.
"""
