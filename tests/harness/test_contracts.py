"""The contract documents and their Python helpers say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

from contracts.errors import ERRORS

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_the_error_table_matches_errors_md() -> None:
    rows = re.findall(
        r"^\| (?:<a [^>]*></a>)?`([A-Z_]+)` \| (\d{3}) \| (?:`([A-Z_]+)`|—) \|",
        (CONTRACTS / "errors.md").read_text(),
        re.M,
    )
    documented = {code: (int(http), grpc_code) for code, http, grpc_code in rows}
    implemented = {code: (spec.http_status, spec.grpc_code.name) for code, spec in ERRORS.items()}
    assert len(documented) >= 10, "the table in errors.md was not parsed"
    assert documented == implemented
