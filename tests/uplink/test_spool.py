"""The SQLite spool: eviction policy and its counters, acks, dead letters, the writer's sequence numbers."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from edge.types import EventKind, FrameEvents, GeoEvent, Priority
from edge.uplink.codec import decode
from edge.uplink.settings import SpoolSettings
from edge.uplink.spool import DeadLetter, Spool, SpoolWriter

A, U, H = Priority.ALERT, Priority.UPDATE, Priority.HEALTH


def _spool(tmp_path: Path, **kw: object) -> Spool:
    return Spool(tmp_path / "spool.sqlite", SpoolSettings.model_validate(kw))


def _batch(i: int, kind: EventKind = EventKind.UPDATE) -> FrameEvents:
    ev = GeoEvent(i, 0, "person", 0.5, kind, (0.1, 0.1, 0.2, 0.2))
    return FrameEvents("cam0", i, 1000.0 + i, None, (ev,))


def test_full_spool_evicts_expired_then_oldest_of_lowest_priority(tmp_path: Path) -> None:
    sp = _spool(tmp_path, max_rows=6, ttl_update_s=100.0)
    now = 10_000.0
    # ids 1..6: an update that expired, two alerts, two fresh updates, one health.
    sp.insert([(U, now - 200, b"u-old")], now=now - 200)
    sp.insert([(A, now, b"a1"), (A, now, b"a2"), (U, now, b"u1"), (U, now, b"u2"), (H, now, b"h1")], now=now)
    assert sp.rows == 6
    sp.insert([(A, now, b"a3")], now=now)  # needs one row: the expired update goes
    assert sp.counters()["evicted_expired_update"] == 1
    sp.insert([(A, now, b"a4"), (A, now, b"a5")], now=now)  # two more: health first, then the oldest update
    c = sp.counters()
    assert (c["evicted_full_health"], c["evicted_full_update"]) == (1, 1)
    assert [r.payload for r in sp.head(10)] == [b"a1", b"a2", b"a3", b"a4", b"a5", b"u2"]
    sp.insert([(U, now, b"u3")], now=now)  # the lowest priority present is update: u2 goes, not an alert
    assert sp.counters()["evicted_full_update"] == 2
    assert sp.rows == 6 and sp.bytes == sum(len(r.payload) for r in sp.head(10))
    assert sp.counters()["inserted"] == 10


def test_byte_limit_and_counters_survive_reopen(tmp_path: Path) -> None:
    sp = _spool(tmp_path, max_bytes=100)
    for i in range(5):
        sp.insert([(A, 1.0 * i, bytes(30))], now=10.0)
    assert (sp.rows, sp.bytes) == (3, 90)
    assert sp.counters()["evicted_full_alert"] == 2
    sp.close()
    again = _spool(tmp_path, max_bytes=100)
    assert (again.rows, again.bytes) == (3, 90)
    assert again.counters()["evicted_full_alert"] == 2
    assert [r.t_created for r in again.head(5)] == [2.0, 3.0, 4.0]


def test_head_orders_by_priority_then_age_and_skips_in_flight(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    sp.insert([(U, 1.0, b"u1"), (H, 2.0, b"h"), (A, 3.0, b"a1"), (U, 4.0, b"u2"), (A, 5.0, b"a2")])
    rows = sp.head(10)
    assert [r.payload for r in rows] == [b"a1", b"a2", b"u1", b"u2", b"h"]
    assert [r.payload for r in sp.head(2, exclude={rows[0].id})] == [b"a2", b"u1"]


def test_ack_and_dead_letter(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    sp.insert([(A, 1.0, b"a"), (U, 2.0, b"u")])
    a, u = sp.head(2)
    assert sp.ack([a.id, 999]) == 1
    sp.dead_letter(u.id, "radio:tunnel", "too large")
    assert sp.rows == 0 and sp.bytes == 0
    (dl,) = sp.dead_letters()
    assert (dl.payload, dl.reason, dl.destination) == (b"u", "too large", "radio:tunnel")
    assert sp.counters()["acked"] == 1 and sp.counters()["dead_letter"] == 1


def test_an_old_spool_is_migrated_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path)  # the layout before transports were separated: MQTT topic and reason code
    db.executescript(
        "CREATE TABLE queue (id INTEGER PRIMARY KEY, prio INTEGER NOT NULL, t_created REAL NOT NULL,"
        " t_expire REAL NOT NULL, size INTEGER NOT NULL, payload BLOB NOT NULL);"
        "CREATE TABLE dead_letter (id INTEGER PRIMARY KEY, prio INTEGER NOT NULL, t_created REAL NOT NULL,"
        " t_dead REAL NOT NULL, topic TEXT NOT NULL, reason INTEGER NOT NULL, reason_text TEXT NOT NULL,"
        " payload BLOB NOT NULL);"
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO queue VALUES (7, 0, 1.0, 9e9, 1, x'61');"
        "INSERT INTO dead_letter VALUES (3, 1, 1.0, 2.0, 'edge/v/detections', 135, 'Not authorized', x'75');"
        "INSERT INTO counters VALUES ('dead_letter', 1);"
    )
    db.commit()
    db.close()
    sp = Spool(path, SpoolSettings())
    assert [(r.id, r.payload) for r in sp.head(5)] == [(7, b"a")]
    (dl,) = sp.dead_letters()
    assert dl == DeadLetter(3, 1, "mqtt:edge/v/detections", "Not authorized (0x87)", b"u")
    assert sp.counters()["dead_letter"] == 1
    sp.close()
    assert Spool(path, SpoolSettings()).dead_letters() == [dl]  # opening again changes nothing


def test_head_since_keeps_only_the_carried_priorities_and_ages(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    sp.insert([(A, 1.0, b"a-old"), (U, 1.0, b"u-old"), (U, 5.0, b"u-new"), (H, 5.0, b"h")], now=5.0)
    got = sp.head(10, since={A: 0.0, U: 4.0})
    assert [r.payload for r in got] == [b"a-old", b"u-new"]
    assert sp.head(10, since={}) == []


def test_claims_of_other_transports_hold_for_a_while(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    sp.insert([(A, 1.0, b"a"), (A, 1.0, b"b")])
    a, b = sp.head(2)
    sp.claim("mqtt", a.id, 100.0)
    sp.claim("radio", b.id, 100.0)
    assert sp.busy("radio", 5.0, 102.0) == {a.id, b.id}  # its own, and mqtt's (sent 2 s ago)
    assert sp.busy("radio", 5.0, 106.0) == {b.id}  # mqtt's claim is old: the radio may send it too
    sp.release("radio", [a.id, b.id])  # releases only its own
    assert sp.busy("mqtt", 5.0, 102.0) == {a.id}
    sp.ack([a.id])
    assert sp.busy("mqtt", 5.0, 102.0) == set()


def test_only_the_newest_health_waits(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    sp.replace_health(b"h1")
    sp.replace_health(b"h2")
    assert [r.payload for r in sp.head(5)] == [b"h2"]
    assert sp.counters()["superseded_health"] == 1


def test_writer_commits_frames_with_consecutive_seqs_and_resumes_same_boot(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    w = SpoolWriter(sp, "v", 77)
    w.submit(FrameEvents("cam0", 0, 1.0, None, ()))  # nothing to say: not spooled
    for i in range(5):
        w.submit(_batch(i, EventKind.NEW if i == 3 else EventKind.UPDATE))
    assert w.commit_pending() == 5  # one transaction
    recs = [decode(r.payload) for r in sp.head(10)]
    assert [(r.boot, r.seq) for r in recs] == [(77, 3), (77, 0), (77, 1), (77, 2), (77, 4)]  # alert first
    sp.close()
    sp2 = _spool(tmp_path)
    w2 = SpoolWriter(sp2, "v", 77)  # same boot id again: goes on from seq 5
    w2.submit(_batch(9))
    w2.commit_pending()
    assert max(decode(r.payload).seq for r in sp2.head(10)) == 5
    w3 = SpoolWriter(sp2, "v", 78)  # a new boot starts at 0
    w3.submit(_batch(10))
    w3.commit_pending()
    assert {(r.boot, r.seq) for r in map(decode, (x.payload for x in sp2.head(10)))} >= {(78, 0)}


def test_writer_thread_drops_oldest_when_its_queue_is_full(tmp_path: Path) -> None:
    sp = _spool(tmp_path, queue_frames=3)
    w = SpoolWriter(sp, "v", 1)
    for i in range(5):
        w.submit(_batch(i))
    w.start()
    w.stop()
    assert [decode(r.payload).detections[0].track_id for r in sp.head(10)] == [2, 3, 4]
    assert w.health()["dropped_frames"] == 2


def test_expired_rows_are_purged_and_counted(tmp_path: Path) -> None:
    sp = _spool(tmp_path, ttl_alert_s=10.0, ttl_health_s=1.0)
    now = time.time()
    sp.insert([(A, now - 20, b"old"), (A, now, b"new"), (H, now - 5, b"h")])
    sp.purge_expired()
    assert [r.payload for r in sp.head(5)] == [b"new"]
    c = sp.counters()
    assert (c["evicted_expired_alert"], c["evicted_expired_health"]) == (1, 1)


def test_row_ids_are_never_reused(tmp_path: Path) -> None:
    """A late ack of a deleted row (from the other transport) must not delete a new row that took its id."""
    sp = _spool(tmp_path)
    sp.insert([(A, 1.0, b"a"), (A, 1.0, b"b")])
    a, b = sp.head(2)
    sp.ack([b.id])  # the highest id goes: SQLite alone would give it to the next row
    sp.insert([(A, 1.0, b"c")])
    (c,) = [r for r in sp.head(5) if r.payload == b"c"]
    assert c.id > b.id
    sp.ack([a.id, c.id])
    sp.close()
    sp = _spool(tmp_path)  # an empty spool reopened goes on counting
    sp.insert([(A, 1.0, b"d")])
    assert sp.head(1)[0].id > c.id
    assert sp.ack([b.id, c.id]) == 0 and sp.rows == 1
