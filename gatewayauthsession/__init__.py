"""The gateway ↔ authsession boundary suite."""
