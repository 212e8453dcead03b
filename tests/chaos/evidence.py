"""Reading what the chaos apps recorded, and the counts the report is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple


class AppendedLines:
    """Reads a file the apps append to, a little more each call (only whole lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new_lines(self) -> List[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        self._offset += end
        return chunk[:end].decode().splitlines()


@dataclass
class Ledger:
    """Outcomes so far: publishes as the publisher saw them, deliveries as the subscriber did."""

    acked: Dict[int, float] = field(default_factory=dict)  # id -> when the publish returned OK
    failed: Dict[int, float] = field(default_factory=dict)  # id -> when the publish raised
    first_delivery: Dict[int, float] = field(default_factory=dict)  # id -> its first delivery
    deliveries: int = 0
    last_progress: float = 0.0  # monotonic time a new id was last delivered

    def read(self, published: AppendedLines, delivered: AppendedLines, now: float) -> None:
        for line in published.new_lines():
            kind, id_, at = line.split()[:3]
            (self.acked if kind == "A" else self.failed)[int(id_)] = float(at)
        for line in delivered.new_lines():
            id_, at = line.split()
            self.deliveries += 1
            if int(id_) not in self.first_delivery:
                self.first_delivery[int(id_)] = float(at)
                self.last_progress = now

    def undelivered(self) -> Set[int]:
        return set(self.acked) - set(self.first_delivery)

    def resumed_after(self, struck_at: float, back_at: float) -> Optional[float]:
        """Seconds from the fault striking to the first delivery of a message acknowledged once the
        victim was back: the pipeline as a whole working again, whichever side the fault hit.
        (Deliveries already in flight when it struck, or just before a publish returned, do not
        count.)"""
        later = [t for i, at in self.acked.items() if at > back_at and (t := self.first_delivery.get(i, 0.0)) > back_at]
        return min(later) - struck_at if later else None


@dataclass
class Outcome:
    """One row of the report."""

    component: str
    fault: str
    acked: int = 0
    failed: int = 0
    unique: int = 0
    lost: int = 0
    duplicates: int = 0
    failed_but_delivered: int = 0
    resumed_s: Optional[float] = None
    seconds: float = 0.0
    note: str = ""
    error: str = ""
    lost_ids: List[int] = field(default_factory=list)

    @classmethod
    def count(cls, component: str, fault: str, ledger: Ledger, struck: Optional[Tuple[float, float]]) -> "Outcome":
        """`struck`: when the fault struck and when its victim was back, if it came to that."""
        lost = sorted(ledger.undelivered())
        return cls(
            component=component,
            fault=fault,
            acked=len(ledger.acked),
            failed=len(ledger.failed),
            unique=len(ledger.first_delivery),
            lost=len(lost),
            duplicates=ledger.deliveries - len(ledger.first_delivery),
            failed_but_delivered=len(set(ledger.failed) & set(ledger.first_delivery)),
            resumed_s=ledger.resumed_after(*struck) if struck is not None else None,
            lost_ids=lost,
        )

    @property
    def ok(self) -> bool:
        return self.lost == 0 and not self.error


HEADER = (
    "| component | fault | acked | failed (seen by caller) | delivered (unique) | lost | duplicates "
    "| failed yet delivered | resumed after | case time | notes |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
)


def table_row(o: Outcome) -> str:
    resumed = f"{o.resumed_s:.2f} s" if o.resumed_s is not None else "–"
    notes = "; ".join(x for x in (o.error and f"**ERROR** {o.error}", o.note) if x)
    if o.lost_ids:
        shown = ", ".join(map(str, o.lost_ids[:10])) + (" …" if len(o.lost_ids) > 10 else "")
        notes = "; ".join(x for x in (notes, f"lost ids: {shown}") if x)
    return (
        f"| {o.component} | {o.fault} | {o.acked} | {o.failed} | {o.unique} | **{o.lost}** | {o.duplicates} "
        f"| {o.failed_but_delivered} | {resumed} | {o.seconds:.0f} s | {notes} |\n"
    )
