"""The uplink drainer: sends spooled records over one ``Transport`` and deletes a row only when it was acknowledged.

Everything transports share lives here: reading the spool by priority (only the priorities and ages the transport
``carries``), the byte budget, the in-flight window, acknowledgement, retry after a timeout or a refusal, the dead
letter, the historical flag and the health record. A transport only connects, frames, sends and reports deliveries.
Several drainers may drain one spool (MQTT when the LTE link is up, the radio always): each skips rows another has
had in flight for less than ``hold_s``, and a row acked by either is deleted once (at-least-once across links;
receivers dedup by vehicle, boot and sequence).

Rows go by priority, except that a priority given a ``share`` (thumbnails) whose rows wait while it had less than
that share of the bytes sent lately goes right after the alerts, ahead of the updates: track updates at 10 fps can
fill a thin link's budget by themselves, and must not starve an image someone asked for.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import cbor2

from edge.stages import Delivery, Health, Outgoing, Transport
from edge.types import Priority
from edge.uplink import codec
from edge.uplink.spool import Row, Spool

log = logging.getLogger("edge.uplink.drainer")
MAX_ATTEMPTS = 5  # counted refusals of one row before it is dead-lettered
SHARE_TAU_S = 10.0  # time constant of the averages of bytes sent that shares are measured against (s)
SHARE_RECHECK_S = 0.25  # a priority owed its share with no rows waiting is looked for again after this (s)


class Budget(Protocol):
    """A byte budget: admits a message of ``nbytes`` at spool priority ``prio`` at ``now`` (s, monotonic)."""

    def admit(self, nbytes: int, prio: int, now: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class DrainSettings:
    """ack_timeout_s: unacknowledged this long -> sent again; historical_after_s: older when sent -> flagged;
    hold_s: rows another transport sent less than this long ago are left to it; shares: priority -> fraction of
    the bytes sent (averaged over ``SHARE_TAU_S``) its waiting rows are owed, sent after alerts until they have it."""

    ack_timeout_s: float = 60.0
    historical_after_s: float = 10.0
    hold_s: float = 5.0
    max_attempts: int = MAX_ATTEMPTS
    shares: Mapping[int, float] = field(default_factory=dict)


class Drainer:
    """A Stage named after its transport: one thread polls the transport and fills its window from the spool."""

    def __init__(self, spool: Spool, transport: Transport, budget: Budget, settings: DrainSettings) -> None:
        self.spool = spool
        self.transport = transport
        self.budget = budget
        self.settings = settings
        self.name = transport.name
        self._inflight: dict[int, tuple[float, int]] = {}  # row id -> (t_sent monotonic, priority)
        self._attempts: dict[int, int] = {}
        self._session = transport.session
        self._pause_until = 0.0
        self._draining = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recent: dict[int, float] = {}  # bytes sent per priority, decaying with SHARE_TAU_S
        self._recent_t = 0.0
        self._share_idle_until: dict[int, float] = {}  # priority -> monotonic s
        self.stats = {"sent": 0, "acked": 0, "dead_letter": 0, "refused": 0, "resent": 0, "max_inflight_seen": 0}
        self.sent_bytes = 0

    # -- Stage ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"uplink-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.flush(1.0)

    def flush(self, timeout: float) -> None:
        """Send nothing new, give in-flight records up to ``timeout`` s for their acknowledgements, then close."""
        self._draining = True
        deadline = time.monotonic() + timeout
        while self._inflight and self.transport.window() > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.5, deadline - time.monotonic() + 0.5))
        self.transport.close(0.3)

    def health(self) -> Health:
        return {
            **self.transport.health(),
            "inflight": len(self._inflight),
            "backlog_rows": self.spool.rows,
            "backlog_bytes": self.spool.bytes,
            "sent_bytes": self.sent_bytes,
            **self.stats,
        }

    def report_health(self, snapshot: dict[str, object]) -> None:
        """HealthSink: queue the newest snapshot (CBOR map) as the spool's health record; older ones are dropped."""
        plain = json.loads(json.dumps(snapshot, default=str))
        self.spool.replace_health(cbor2.dumps(plain))

    # -- the thread -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(0.01 if self._inflight or self.spool.rows else 0.1)
            except Exception:  # a bug or an odd link error must not end the uplink
                log.exception("uplink %s: unexpected error", self.name)
                self._stop.wait(1.0)

    def step(self, timeout: float) -> None:
        """One round: let the transport run up to ``timeout`` s, take its deliveries, send what fits."""
        deliveries = self.transport.poll(timeout)
        now = time.monotonic()
        if self.transport.session != self._session:  # the connection changed: what was in flight is lost
            self._session = self.transport.session
            self.spool.release(self.name, list(self._inflight))
            self._inflight.clear()
        self.deliver(deliveries, now)
        self._expire(now)
        if not self._draining and now >= self._pause_until:
            self._fill(now)

    def deliver(self, deliveries: list[Delivery], now: float) -> None:
        """Delete what was acknowledged (whoever sent it); count, retry or dead-letter refusals."""
        acks = [d.row_id for d in deliveries if d.ok]
        for d in deliveries:
            sent = self._inflight.pop(d.row_id, None)
            if d.ok:
                self._attempts.pop(d.row_id, None)
            elif sent is not None:  # a refusal of a record we gave up waiting for is news of the past
                self._refused(d, sent[1], now)
        if acks:
            self.stats["acked"] += self.spool.ack(acks)

    def _refused(self, d: Delivery, prio: int, now: float) -> None:
        self.stats["refused"] += 1
        self.spool.release(self.name, [d.row_id])
        attempts = self._attempts.get(d.row_id, 0) + d.counted
        self._attempts[d.row_id] = attempts
        if d.final or attempts >= self.settings.max_attempts:
            self._attempts.pop(d.row_id, None)
            destination = self.transport.destination(prio)
            self.spool.dead_letter(d.row_id, destination, d.reason)
            self.stats["dead_letter"] += 1
            log.error("%s refused a record: %s; moved to the dead-letter table", destination, d.reason)
        if d.pause_s:
            self._pause_until = max(self._pause_until, now + d.pause_s)

    def _expire(self, now: float) -> None:
        late = [rid for rid, (t, _) in self._inflight.items() if now - t > self.settings.ack_timeout_s]
        for rid in late:  # sent again on a later fill; a late acknowledgement still deletes the row
            del self._inflight[rid]
            self.stats["resent"] += 1
        if late:
            self.spool.release(self.name, late)

    def _since(self, wall: float) -> dict[int, float] | None:
        carries = self.transport.carries
        if len(carries) == len(Priority) and all(age == float("inf") for age in carries.values()):
            return None  # everything: the plain (fastest) query
        return {p: (wall - age if age != float("inf") else 0.0) for p, age in carries.items()}

    def _owed(self, now: float, since: dict[int, float] | None) -> list[int]:
        """The priorities with a share that had less than it of the bytes sent lately (and may have rows)."""
        if not self.settings.shares:
            return []
        decay = math.exp(-(now - self._recent_t) / SHARE_TAU_S) if now > self._recent_t else 1.0
        self._recent = {p: b * decay for p, b in self._recent.items()}
        self._recent_t = max(now, self._recent_t)
        total = sum(self._recent.values())
        return [
            p
            for p, share in self.settings.shares.items()
            if (since is None or p in since)
            and now >= self._share_idle_until.get(p, 0.0)
            and self._recent.get(p, 0.0) < share * total
        ]

    def _head(self, window: int, busy: set[int], now: float, wall: float) -> list[Row]:
        """The rows to offer next: by priority, or alerts then owed priorities then the rest (see ``shares``)."""
        since = self._since(wall)
        owed = self._owed(now, since)
        if not owed:
            return self.spool.head(window, busy, since)
        first = [p for p in (int(Priority.ALERT), *owed) if since is None or p in since]
        lead = self.spool.head(window, busy, {p: since[p] if since else 0.0 for p in first})
        for p in owed:
            if not any(r.prio == p for r in lead):
                self._share_idle_until[p] = now + SHARE_RECHECK_S
        if len(lead) >= window:
            return lead
        return lead + self.spool.head(window - len(lead), busy | {r.id for r in lead}, since)

    def _fill(self, now: float) -> None:
        window = self.transport.window() - len(self._inflight)
        if window <= 0 or self.spool.rows <= len(self._inflight):
            return
        busy = self.spool.busy(self.name, self.settings.hold_s, now)
        wall = time.time()
        for row in self._head(window, busy, now, wall):
            if row.t_expire <= wall:
                self.spool.purge_expired(wall)
                return
            if not self._send(row, now, wall):
                return

    def _send(self, row: Row, now: float, wall: float) -> bool:
        historical = wall - row.t_created > self.settings.historical_after_s
        record = row.prio in (Priority.ALERT, Priority.UPDATE)  # the others are not frame records
        payload = codec.mark_historical(row.payload) if historical and record else row.payload
        rec = Outgoing(row.id, row.prio, row.t_created, row.t_expire, payload, historical)
        size = self.transport.cost(rec)
        if not self.budget.admit(size, row.prio, now):
            return False
        if not self.transport.send(rec):
            return False
        self._inflight[row.id] = (now, row.prio)
        self.spool.claim(self.name, row.id, now)
        self.stats["sent"] += 1
        self.stats["max_inflight_seen"] = max(self.stats["max_inflight_seen"], len(self._inflight))
        self.sent_bytes += size
        if self.settings.shares:
            self._recent[row.prio] = self._recent.get(row.prio, 0.0) + size
        return True
