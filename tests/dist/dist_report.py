"""What `make test-dist` measured, kept for its report (conftest.py prints it at the end)."""

from __future__ import annotations

from typing import Dict, List, Tuple

# (artifact, size in bytes), in the order measured.
SIZES: List[Tuple[str, int]] = []
# language -> {"install_s": ..., "first_order_s": ..., "last_order_s": ...}: seconds from the start
# of the install (an order counts when the subscriber printed it).
TIMINGS: Dict[str, Dict[str, float]] = {}
