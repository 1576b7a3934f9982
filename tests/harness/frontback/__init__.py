"""The front ↔ back boundary of two fake services (tests/harness/fake_service.py, mode relay)."""
