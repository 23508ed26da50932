"""Measure fusion against synthetic truth: two vehicles watch the same walking people; records go through the codec.
``replay(store)`` fuses a store's detections again as ``edge-centre serve`` did, for scoring a live run against the
simulator's truth (``sim/fleet_score.py``).

Not the simulator's renderer and detector: people walk at ~1.4 m/s in a 400 m square; each vehicle (600 m apart,
both ~300-700 m from the people) detects each person in a frame with ``p_detect``; its position error is Gaussian
with sigma = 1.5 m + 0.6 % of the range, and it reports the matching 90 % radius (rounded up to whole metres by the
codec, as ``edge run`` does). Trackers break a track with probability ``p_break`` per frame (a new track id).
Two figures: of the (person, frame) pairs seen by both vehicles, the share whose two detections landed in one
sighting; and of all sighting updates, the share whose fused position lies within its reported 90 % radius.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from centre.config import FusionSettings
from centre.fusion import M_PER_DEG, R90_PER_SIGMA, Fuser, Sighting, distance_m
from centre.store import Store
from centre.store.rows import DET_COLUMNS, Detection
from edge.types import EventKind, FrameEvents, GeoEvent, Pose
from edge.uplink.codec import decode, encode


@dataclass(frozen=True, slots=True)
class EvalResult:
    pairs_seen_by_both: int
    pairs_one_sighting: int
    updates: int
    updates_within_radius: int

    @property
    def one_sighting_pct(self) -> float:
        return 100.0 * self.pairs_one_sighting / max(1, self.pairs_seen_by_both)

    @property
    def within_radius_pct(self) -> float:
        return 100.0 * self.updates_within_radius / max(1, self.updates)


def evaluate(
    people: int = 20,
    seconds: float = 120.0,
    fps: float = 2.0,
    p_detect: float = 0.8,
    p_break: float = 0.005,
    seed: int = 7,
    settings: FusionSettings | None = None,
    origin: tuple[float, float] = (48.0, 17.0),
    t0: float = 1_780_000_000.0,
    sink: Callable[[str, bytes], None] | None = None,
) -> EvalResult:
    """Run the scene around ``origin`` (lat, lon) from ``t0`` (POSIX s) and fuse every decoded detection in time
    order; ``sink(vehicle, payload)`` gets each wire record too (to publish or store the same scene)."""
    rng = random.Random(seed)
    lat0, lon0 = origin
    m_lon = M_PER_DEG * math.cos(math.radians(lat0))
    vehicles = {"mss-a": (-300.0, -400.0), "mss-b": (300.0, -400.0)}  # east, north of the area's centre (m)
    pos = [(rng.uniform(-200, 200), rng.uniform(-200, 200)) for _ in range(people)]
    heading = [rng.uniform(0, 2 * math.pi) for _ in range(people)]
    tracks = {v: list(range(1, people + 1)) for v in vehicles}
    next_track = dict.fromkeys(vehicles, people + 1)
    boots = {v: rng.randrange(2**32) for v in vehicles}
    fuser = Fuser(settings or FusionSettings())
    pairs = pairs_one = updates = within = 0
    for f in range(int(seconds * fps)):
        t = t0 + f / fps
        for i in range(people):
            heading[i] += rng.gauss(0, 0.2)
            x = max(-200.0, min(200.0, pos[i][0] + 1.4 / fps * math.cos(heading[i])))
            y = max(-200.0, min(200.0, pos[i][1] + 1.4 / fps * math.sin(heading[i])))
            pos[i] = (x, y)
        seen: dict[int, list[str]] = {}
        for v, (vx, vy) in vehicles.items():
            events = []
            for i, (x, y) in enumerate(pos):
                if rng.random() > p_detect:
                    continue
                if rng.random() < p_break:
                    tracks[v][i] = next_track[v]
                    next_track[v] += 1
                sigma = 1.5 + 0.006 * math.hypot(x - vx, y - vy)
                ex, ey = x + rng.gauss(0, sigma), y + rng.gauss(0, sigma)
                events.append(
                    GeoEvent(
                        tracks[v][i], 0, "person", 0.9, EventKind.UPDATE, (0.4, 0.4, 0.45, 0.5),
                        lat=lat0 + ey / M_PER_DEG, lon=lon0 + ex / m_lon, alt=200.0, error_m=R90_PER_SIGMA * sigma,
                    )
                )  # fmt: skip
            pose = Pose(0.0, lat0 + vy / M_PER_DEG, lon0 + vx / m_lon, 210.0)
            payload = encode(FrameEvents("cam0", f, t, pose, tuple(events)), boots[v], f)
            if sink is not None:
                sink(v, payload)
            rec = decode(payload)
            for idx, d in enumerate(rec.detections):
                det = Detection(
                    v, rec.boot, rec.seq, idx, rec.t_utc, rec.camera, 0, "person", int(d.kind), d.confidence,
                    d.track_id, d.lat, d.lon, d.alt, d.error_m,
                )  # fmt: skip
                s = fuser.add(det)
                fuser.merged.clear()
                assert s is not None
                person = tracks[v].index(d.track_id)
                seen.setdefault(person, []).append(s.id)
                tx, ty = pos[person]
                updates += 1
                within += distance_m(s.lat, s.lon, lat0 + ty / M_PER_DEG, lon0 + tx / m_lon) <= s.error_m
        for ids in seen.values():
            if len(ids) == 2:
                pairs += 1
                pairs_one += ids[0] == ids[1]
        fuser.expire(t)
    return EvalResult(pairs, pairs_one, updates, within)


def replay(
    store: Store, settings: FusionSettings | None = None, batch: int = 50_000
) -> Iterator[tuple[Detection, Sighting]]:
    """Fuse ``store``'s detections again in the order ``edge-centre serve`` fuses them (by id, expiring once a second
    of detection time); yields each detection with the sighting it updated, as it stands just after (a live object:
    read it before the next)."""
    fuser = Fuser(settings or FusionSettings())
    cols = ", ".join(DET_COLUMNS)
    last_id, expired_at = 0, -math.inf
    while rows := store._rows(
        f"SELECT id, {cols} FROM detections WHERE id > ? ORDER BY id LIMIT {int(batch)}", [last_id]
    ):
        for row in rows:
            last_id = int(row[0])
            d = Detection(*row[1:])
            s = fuser.add(d)
            fuser.merged.clear()
            if s is not None:
                yield d, s
            if d.t - expired_at >= 1.0:
                fuser.expire(d.t)
                expired_at = d.t
