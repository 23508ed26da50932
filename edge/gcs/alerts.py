"""GcsAlerter: tells the pilot's ground station what the daemon sees and how it is, within a message budget.

``submit`` and ``report_health`` only enqueue; one worker thread formats messages, queues them by priority
(new-track alerts first, then tracking status and health changes, then updates and periodic health values)
and sends them through the MAVLink link as the budget (messages/s, bytes/s) allows. Messages that waited
longer than ``max_age_s`` are dropped rather than sent late.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.gcs.health import flag_changes, named_values, summarize
from edge.gcs.messages import alert_text, geo_status, image_status
from edge.gcs.settings import SEVERITY, GcsSettings
from edge.ops.budget import HIGH, LOW, NORMAL, LinkBudget
from edge.stages import Health
from edge.types import EventKind, FrameEvents, GeoEvent

log = logging.getLogger("edge.gcs")
MAX_TRACKS = 1024  # remembered tracks for update pacing; the oldest are forgotten beyond this


class MavlinkSender(Protocol):
    """What the alerter needs of the daemon's MAVLink link (edge.sources.mavlink.MavlinkLink)."""

    def send(self, msg: mavlink.MAVLink_message) -> bool: ...


@dataclass(order=True)
class _Queued:
    priority: int
    seq: int
    t: float = field(compare=False)
    size: int = field(compare=False)
    msg: mavlink.MAVLink_message = field(compare=False)


class GcsAlerter:
    """A Stage and an EventSink: STATUSTEXT + CAMERA_TRACKING_*_STATUS per new track, health as NAMED_VALUE_*."""

    name = "gcs"

    def __init__(
        self,
        settings: GcsSettings,
        link: MavlinkSender,
        clock: Callable[[], float] = time.monotonic,
        camera_names: bool = False,
    ) -> None:
        """``camera_names``: the daemon has several cameras; each alert says which one saw it."""
        self.s = settings
        self._camera_names = camera_names
        self.link = link
        self.clock = clock
        self._t0 = clock()
        self.budget = LinkBudget(settings.msgs_per_s, settings.bytes_per_s, settings.burst_s, self._t0)  # the radio's
        self._inbox: deque[FrameEvents] = deque(maxlen=256)
        self._health_in: dict[str, object] | None = None
        self._health_lock = threading.Lock()
        self._health: dict[str, object] = {}
        self._next_health = self._t0
        self._queue: list[_Queued] = []
        self._seq = itertools.count()
        self._last_alert: dict[tuple[str, int], float] = {}  # by (camera, track id)
        self._mav = mavlink.MAVLink(None)  # only to measure packed sizes
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts = {"alerts": 0, "sent": 0, "send_failed": 0, "expired": 0, "queue_full": 0, "too_big": 0}

    # Stage / EventSink -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.s.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gcs-alerter", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def health(self) -> Health:
        return {"enabled": self.s.enabled, "queued": len(self._queue), **self.counts}

    def submit(self, batch: FrameEvents) -> None:
        """Hand over a frame's events; returns at once (the oldest unprocessed batch is dropped if 256 wait)."""
        if self.s.enabled:
            self._inbox.append(batch)
            self._wake.set()

    def report_health(self, health: dict[str, object]) -> None:
        """Latest daemon health: the app's snapshot (with ``stages``) or the flat keys of edge.gcs.health.

        Flag changes go out as text at once, values every ``health_interval_s``.
        """
        summary = summarize(health)
        with self._health_lock:
            self._health_in = summary
        self._wake.set()

    # worker -----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        wait = 0.0
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            now = self.clock()
            self.step(now)
            wait = min(self._pump(now), max(0.0, self._next_health - now) if self.s.health_interval_s else 1.0, 1.0)

    def step(self, now: float) -> None:
        """Turn what arrived into queued messages (the worker's work between sends; public for tests)."""
        while self._inbox:
            batch = self._inbox.popleft()
            for ev in batch.events:
                self._on_event(ev, batch.camera_id, now)
        with self._health_lock:
            new_health, self._health_in = self._health_in, None
        if new_health is not None:
            if self.s.health_text:
                for text, bad in flag_changes(self._health, new_health):
                    sev = mavlink.MAV_SEVERITY_WARNING if bad else mavlink.MAV_SEVERITY_INFO
                    self._enqueue(NORMAL, _statustext(text, sev), now)
            self._health = new_health
        if self.s.health_interval_s and now >= self._next_health:
            self._next_health = now + self.s.health_interval_s
            ms = int((now - self._t0) * 1000) & 0xFFFFFFFF
            for name, value, is_int in named_values(self._health):
                msg: mavlink.MAVLink_message
                if is_int:
                    msg = mavlink.MAVLink_named_value_int_message(ms, name.encode(), int(value))
                else:
                    msg = mavlink.MAVLink_named_value_float_message(ms, name.encode(), value)
                self._enqueue(LOW, msg, now)

    def _on_event(self, ev: GeoEvent, camera: str, now: float) -> None:
        key = (camera, ev.track_id)
        if ev.kind == EventKind.LOST:
            self._last_alert.pop(key, None)
            return
        if ev.confidence < self.s.min_confidence:
            return
        if ev.kind == EventKind.NEW:
            sev = SEVERITY[self.s.severity.get(ev.class_name, self.s.default_severity)]
            text_prio, status_prio = HIGH, NORMAL
        else:
            last = self._last_alert.get(key)
            interval = self.s.update_interval_s
            if not interval or (last is not None and now - last < interval):
                return
            sev = SEVERITY[self.s.update_severity]
            text_prio = status_prio = LOW
        self._last_alert[key] = now
        if len(self._last_alert) > MAX_TRACKS:
            for tid in sorted(self._last_alert, key=self._last_alert.__getitem__)[: MAX_TRACKS // 2]:
                del self._last_alert[tid]
        self.counts["alerts"] += 1
        text = alert_text(ev, self.s.ascii_only, camera if self._camera_names else "")
        self._enqueue(text_prio, _statustext(text, sev), now)
        if self.s.tracking_status:
            geo = geo_status(ev)
            if geo is not None:
                self._enqueue(status_prio, geo, now)
            self._enqueue(status_prio, image_status(ev), now)

    def _enqueue(self, priority: int, msg: mavlink.MAVLink_message, now: float) -> None:
        size = len(msg.pack(self._mav))
        heapq.heappush(self._queue, _Queued(priority, next(self._seq), now, size, msg))
        if len(self._queue) > self.s.queue_size:
            worst = max(self._queue, key=lambda q: (q.priority, -q.seq))  # least urgent, oldest of those
            self._queue.remove(worst)
            heapq.heapify(self._queue)
            self.counts["queue_full"] += 1

    def _pump(self, now: float) -> float:
        """Send queued messages while the budget allows; seconds until the next one could go (1 s if none)."""
        while self._queue:
            head = self._queue[0]
            if now - head.t > self.s.max_age_s:
                heapq.heappop(self._queue)
                self.counts["expired"] += 1
                continue
            if not self.budget.admit(head.size, head.priority, now):
                wait = self.budget.wait_s(head.size, head.priority, now)
                if wait != float("inf"):
                    return min(1.0, wait)
                heapq.heappop(self._queue)  # can never fit this budget's depth at its priority
                self.counts["too_big"] += 1
                continue
            heapq.heappop(self._queue)
            if self.link.send(head.msg):
                self.counts["sent"] += 1
            else:
                self.counts["send_failed"] += 1
        return 1.0


def _statustext(text: str, severity: int) -> mavlink.MAVLink_statustext_message:
    return mavlink.MAVLink_statustext_message(severity, text.encode("utf-8"))
