"""In-process stateful HTTP stubs of external services, with programmable faults."""
