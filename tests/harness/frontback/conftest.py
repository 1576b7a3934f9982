from __future__ import annotations

from frontback.topology import TOPOLOGY

__all__ = ["TOPOLOGY"]
