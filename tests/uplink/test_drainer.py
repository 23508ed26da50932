"""The drainer over in-memory transports: two transports on one spool share it without sending a row twice."""

from __future__ import annotations

import time
from pathlib import Path

from edge.ops.budget import SpoolBytes, TokenBucket
from edge.stages import Delivery, Health, Outgoing
from edge.types import Priority
from edge.uplink.drainer import Drainer, DrainSettings
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import Spool

INF = float("inf")


class _Link:
    """A transport that records what it was handed; the test says what comes back."""

    def __init__(self, name: str, window: int, carries: dict[int, float] | None = None) -> None:
        self.name = name
        self.carries = carries or dict.fromkeys((int(p) for p in Priority), INF)
        self.session = 0
        self.size = 10
        self._window = window
        self.sent: list[Outgoing] = []
        self.back: list[Delivery] = []

    def poll(self, timeout: float) -> list[Delivery]:
        out, self.back = self.back, []
        return out

    def window(self) -> int:
        return self._window

    def cost(self, rec: Outgoing) -> int:
        return self.size

    def send(self, rec: Outgoing) -> bool:
        self.sent.append(rec)
        return True

    def destination(self, prio: int) -> str:
        return f"{self.name}:{prio}"

    def close(self, timeout: float) -> None:
        pass

    def health(self) -> Health:
        return {"state": "connected"}


def _setup(tmp_path: Path, n: int, hold_s: float = 5.0) -> tuple[Spool, _Link, _Link, Drainer, Drainer]:
    spool = Spool(tmp_path / "s.sqlite", SpoolSettings())
    now = time.time()
    spool.insert([(Priority.ALERT, now, b"r%d" % i) for i in range(n)])
    a, b = _Link("mqtt", 3), _Link("radio", 2)
    settings = DrainSettings(ack_timeout_s=60.0, hold_s=hold_s)
    da = Drainer(spool, a, SpoolBytes(TokenBucket(0, 0)), settings)
    db = Drainer(spool, b, SpoolBytes(TokenBucket(0, 0)), settings)
    return spool, a, b, da, db


def test_two_transports_split_the_spool_and_each_ack_deletes_once(tmp_path: Path) -> None:
    spool, a, b, da, db = _setup(tmp_path, 6)
    da.step(0)
    db.step(0)
    assert [r.payload for r in a.sent] == [b"r0", b"r1", b"r2"]
    assert [r.payload for r in b.sent] == [b"r3", b"r4"]  # what the other has in flight is skipped
    da.step(0)
    db.step(0)
    assert len(a.sent) == 3 and len(b.sent) == 2  # nothing sent twice over the same link while in flight
    a.back = [Delivery(r.row_id) for r in a.sent]
    b.back = [Delivery(r.row_id) for r in b.sent] + [Delivery(a.sent[0].row_id)]  # the same row over both
    da.step(0)
    db.step(0)
    assert spool.counters()["acked"] == 5 and da.stats["acked"] + db.stats["acked"] == 5
    assert [r.payload for r in a.sent[3:]] == [b"r5"] and spool.rows == 1


def test_a_row_another_link_holds_too_long_goes_over_this_one(tmp_path: Path) -> None:
    _, _, b, da, db = _setup(tmp_path, 2, hold_s=0.0)
    da.step(0)  # mqtt sends both into a black hole
    db.step(0)  # the radio does not wait for them
    assert [r.payload for r in b.sent] == [b"r0", b"r1"]


def test_a_new_session_sends_what_was_in_flight_again(tmp_path: Path) -> None:
    _, a, _, da, _ = _setup(tmp_path, 2)
    da.step(0)
    a.session += 1  # the connection was lost and made again
    da.step(0)
    assert [r.payload for r in a.sent] == [b"r0", b"r1", b"r0", b"r1"]


def test_a_transport_gets_only_what_it_carries(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", SpoolSettings())
    now = time.time()
    spool.insert([(Priority.UPDATE, now - 60, b"old"), (Priority.UPDATE, now, b"new"), (Priority.HEALTH, now, b"h")])
    radio = _Link("radio", 8, {Priority.ALERT: INF, Priority.UPDATE: 30.0})
    Drainer(spool, radio, SpoolBytes(TokenBucket(0, 0)), DrainSettings()).step(0)
    assert [r.payload for r in radio.sent] == [b"new"]


def test_the_budget_holds_records_back(tmp_path: Path) -> None:
    spool, a, _, _, _ = _setup(tmp_path, 3)
    a.size = 100
    d = Drainer(spool, a, SpoolBytes(TokenBucket(10.0, 150.0, time.monotonic())), DrainSettings())
    d.step(0)
    assert len(a.sent) == 2  # 150 B of tokens admit two 100 B records (the second goes into debt)


def test_thumbnail_chunks_leave_the_upper_half_of_the_bucket_to_alerts(tmp_path: Path) -> None:
    from edge.uplink.transports.mqtt import IMAGE_RESERVES

    spool = Spool(tmp_path / "s.sqlite", SpoolSettings())
    spool.insert([(Priority.IMAGE, time.time(), b"c%d" % i) for i in range(20)])
    link = _Link("mqtt", 64)
    link.size = 600  # a chunk on the wire
    budget = SpoolBytes(TokenBucket(2000.0, 2000.0, 0.0), IMAGE_RESERVES)  # 2 kB/s, one second deep
    drainer = Drainer(spool, link, budget, DrainSettings())
    drainer._fill(0.0)
    assert len(link.sent) == 2  # 2000 -> 1400 -> 800 bytes left: at most half the depth, chunks wait
    spool.insert([(Priority.ALERT, time.time(), b"alert")])
    link.size = 80
    drainer._fill(0.0)  # the same instant: the alert finds room at once
    assert link.sent[-1].payload == b"alert" and len(link.sent) == 3


def test_a_thumbnail_gets_its_share_when_updates_fill_the_budget(tmp_path: Path) -> None:
    from edge.uplink.transports.mqtt import IMAGE_RESERVES

    class Sized(_Link):
        def cost(self, rec: Outgoing) -> int:
            return len(rec.payload)

    spool = Spool(tmp_path / "s.sqlite", SpoolSettings())
    wall = time.time()
    spool.insert([(Priority.UPDATE, wall, b"u" * 100) for _ in range(1000)])  # more than 2 kB/s can carry in 20 s
    spool.insert([(Priority.IMAGE, wall, b"c" * 600) for _ in range(10)])  # a 6 kB image in chunks
    link = Sized("mqtt", 64)
    budget = SpoolBytes(TokenBucket(2000.0, 2000.0, 0.0), IMAGE_RESERVES)  # 2 kB/s, one second deep
    drainer = Drainer(spool, link, budget, DrainSettings(shares={int(Priority.IMAGE): 0.3}))
    alert_at, alert_sent = 8.0, None
    for k in range(200):  # 20 s in 0.1 s steps; the broker acknowledges everything at once
        now = k * 0.1
        if now == alert_at:
            spool.insert([(Priority.ALERT, time.time(), b"a" * 80)])
        drainer._fill(now)
        drainer.deliver([Delivery(r.row_id) for r in link.sent if r.row_id in drainer._inflight], now)
        if alert_sent is None and any(r.prio == Priority.ALERT for r in link.sent):
            alert_sent = now
    sent = {p: sum(len(r.payload) for r in link.sent if r.prio == p) for p in (Priority.UPDATE, Priority.IMAGE)}
    assert sent[Priority.IMAGE] == 6000  # the whole image went, though updates were always waiting
    assert sent[Priority.UPDATE] >= 0.6 * (sent[Priority.UPDATE] + sent[Priority.IMAGE])  # and took no more
    assert alert_sent == alert_at  # the alert still went first, at once
