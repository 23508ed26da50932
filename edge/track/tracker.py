"""ByteTrack-style multi-object tracker with NEW / UPDATE / LOST events.

Per frame: predict every track (constant-velocity Kalman, real ``dt``), shift the predictions by the image motion
most tracks agree on (``ego_motion``: the camera panned; the confirmed ones, where two are), match high-confidence
detections by IoU, then what is left of both by centre distance within ``match_distance`` sigmas of the prediction
(same class; a track takes no box that lies nearer, in sigmas, to another confirmed track's prediction, nor, in
pixels, to a tentative one's matched in the previous frame: no hop onto a neighbour), then the tracks still
unmatched to low-confidence detections the same way (by distance: confirmed tracks only), then start tentative
tracks from unmatched detections that do not overlap a track matched in this frame (``duplicate_iou``; a tentative
track left unmatched beside one is dropped). A track is reported NEW once it
has ``min_hits`` matches, then UPDATE only when it moved (``update_move``), changed class or ``update_interval_s``
passed, and LOST once unseen for ``lost_after_s`` and ``lost_after_frames`` frames (at a low frame rate one miss is
no loss; a tentative track likewise lives ``tentative_max_age_s`` and ``tentative_max_misses`` frames). Association is
greedy (best pairs first), vectorised over the IoU or distance matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.detect.nms import cxcywh_to_xyxy, iou_matrix
from edge.stages import Health
from edge.track import kalman
from edge.track.settings import TrackerSettings
from edge.types import Detections, EventKind, TrackEvents


def greedy_match(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (rows, cols) of an (R, C) IoU matrix, best IoU first, each row and column used once, IoU >= min_iou."""
    if not iou.size:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    r, c = np.nonzero(iou >= max(min_iou, 1e-6))
    order = np.argsort(-iou[r, c], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    rows, cols = [], []
    for i in order:
        a, b = int(r[i]), int(c[i])
        if a in used_r or b in used_c:
            continue
        used_r.add(a)
        used_c.add(b)
        rows.append(a)
        cols.append(b)
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)


def ego_shift(tracks: np.ndarray, dets: np.ndarray, max_pairs: int = 400) -> np.ndarray:
    """(2,) image shift (px) most tracks agree on, from tracks' predicted (T, 4) and detections' (D, 4) cx, cy, w, h.

    Each (track, detection) pair within 10 box sizes proposes its offset; a track supports an offset when one of its
    own pairs lies within half its box size of it. The best-supported offset wins if at least two tracks support it
    and more than support no shift; else (0, 0)."""
    off = dets[None, :, :2] - tracks[:, None, :2]  # (T, D, 2)
    size = np.maximum(tracks[:, 2:].max(1), 1.0)  # (T,)
    dist = np.hypot(off[..., 0], off[..., 1])
    ti, dj = np.nonzero(dist <= 10 * size[:, None])
    if len(ti) < 2:
        return np.zeros(2)
    if len(ti) > max_pairs:
        keep = np.argsort(dist[ti, dj] / size[ti], kind="stable")[:max_pairs]
        ti, dj = ti[keep], dj[keep]
    cand = np.vstack([off[ti, dj], np.zeros((1, 2))])  # (P + 1, 2): every pair's offset, and no shift
    # close[c, p]: pair p lies within half its track's size of candidate c
    close = np.hypot(*(off[ti, dj][None, :, :] - cand[:, None, :]).transpose(2, 0, 1)) <= 0.5 * size[ti][None, :]
    support = np.zeros((len(cand), len(tracks)), bool)
    rows = np.repeat(np.arange(len(cand)), len(ti))
    support[rows[close.ravel()], np.tile(ti, len(cand))[close.ravel()]] = True
    votes = support.sum(1)
    best = int(votes[:-1].argmax())
    if votes[best] >= 2 and votes[best] > votes[-1]:
        return np.asarray(cand[best], np.float64)
    return np.zeros(2)


def overlaps(a: np.ndarray, b: np.ndarray, min_iou: float) -> np.ndarray:
    """(A,) True where box a[i] (xyxy) overlaps some box of b (B, 4) by IoU >= ``min_iou`` or its centre lies within
    half of that box's larger side of its centre (for boxes a few pixels wide, which overlap little when one object
    jitters)."""
    if not len(a) or not len(b):
        return np.zeros(len(a), bool)
    ca, cb = kalman.xyxy_to_cxcywh(a), kalman.xyxy_to_cxcywh(b)
    half = cb[:, 2:].max(1) / 2
    near = (np.abs(ca[:, None, 0] - cb[None, :, 0]) <= half) & (np.abs(ca[:, None, 1] - cb[None, :, 1]) <= half)
    return np.asarray((iou_matrix(a, b) >= min_iou).any(1) | near.any(1))


@dataclass
class _Tracks:
    """Struct of arrays for T tracks."""

    mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 8)))
    cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 8, 8)))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    misses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # frames in a row without a match
    confirmed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    t_seen: np.ndarray = field(default_factory=lambda: np.zeros(0))
    t_state: np.ndarray = field(default_factory=lambda: np.zeros(0))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    votes: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))  # (T, classes) summed scores
    box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # last matched box
    rep_box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # last reported box
    rep_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    t_rep: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: np.ndarray) -> _Tracks:
        return _Tracks(**{k: v[keep] for k, v in self.__dict__.items()})

    def extend(self, other: _Tracks) -> _Tracks:
        width = max(self.votes.shape[1], other.votes.shape[1])
        parts = {k: v for k, v in self.__dict__.items()}
        parts["votes"] = _pad_cols(self.votes, width)
        return _Tracks(
            **{
                k: np.concatenate([v, _pad_cols(other.votes, width) if k == "votes" else getattr(other, k)])
                for k, v in parts.items()
            }
        )

    @property
    def klass(self) -> np.ndarray:
        return self.votes.argmax(1).astype(np.int64)


def _pad_cols(a: np.ndarray, width: int) -> np.ndarray:
    return a if a.shape[1] >= width else np.pad(a, ((0, 0), (0, width - a.shape[1])))


class ByteTracker:
    """``edge.stages.Tracker``: ``update`` returns only tracks with an event in this frame, and with ``report_seen``
    the other confirmed tracks matched in it (``TrackEvents.seen``)."""

    name = "tracker"

    def __init__(self, settings: TrackerSettings, report_seen: bool = False) -> None:
        self.s = settings
        self.report_seen = report_seen
        self._t = _Tracks()
        self._next_id = 1
        self.frames = 0
        self.events = {k.name.lower(): 0 for k in EventKind}

    def update(self, dets: Detections, t_mono: float) -> TrackEvents:
        """Associate ``dets`` (frame captured at ``t_mono`` s) with the tracks; NEW / UPDATE / LOST events."""
        s, tr = self.s, self._t
        self.frames += 1
        tr.mean, tr.cov = kalman.predict(tr.mean, tr.cov, np.maximum(t_mono - tr.t_state, 0.0), s.velocity_noise)
        tr.t_state.fill(t_mono)
        keep_det = (dets.score >= s.low_threshold) & (dets.class_id >= 0)
        if not keep_det.all():
            dets = dets[keep_det]
        high = np.flatnonzero(dets.score >= s.high_threshold)
        low = np.flatnonzero(dets.score < s.high_threshold)
        if s.ego_motion and len(tr) > 1 and len(high) > 1:
            # the confirmed tracks vote where there are two: new ones, often a false box, each pair up with some box
            # of a row of people 15-20 px apart, and five such outvoted six still tracks for a 14 px shift of a
            # still camera; a camera that turns at 1 fps needs the new ones while too few tracks are confirmed
            voters = tr.confirmed if np.count_nonzero(tr.confirmed) >= 2 else np.ones(len(tr), bool)
            tr.mean[:, :2] += ego_shift(tr.mean[voters, :4], kalman.xyxy_to_cxcywh(dets.xyxy[high]))
        pred = cxcywh_to_xyxy(tr.mean[:, :4]).astype(np.float32)

        det_for_track = np.full(len(tr), -1, np.int64)
        self._match(det_for_track, pred, dets, high, s.match_iou, np.ones(len(tr), bool))
        if len(low):  # tracks still unmatched, against low-confidence boxes (far ones: confirmed tracks only)
            self._match(det_for_track, pred, dets, low, s.low_match_iou, tr.confirmed)

        matched = np.flatnonzero(det_for_track >= 0)
        md = det_for_track[matched]
        kinds: list[np.ndarray] = []
        if len(matched):
            tr.mean[matched], tr.cov[matched] = kalman.update(tr.mean[matched], tr.cov[matched], dets.xyxy[md])
            tr.hits[matched] += 1
            tr.t_seen[matched] = t_mono
            tr.score[matched] = dets.score[md]
            tr.box[matched] = dets.xyxy[md]
            need = int(dets.class_id[md].max()) + 1
            tr.votes = _pad_cols(tr.votes, need)
            np.add.at(tr.votes, (matched, dets.class_id[md]), dets.score[md])
        tr.misses += 1
        tr.misses[matched] = 0
        new_conf = np.zeros(len(tr), bool)
        new_conf[matched] = ~tr.confirmed[matched] & (tr.hits[matched] >= s.min_hits)
        tr.confirmed |= new_conf
        upd = np.zeros(len(tr), bool)
        if len(matched):
            upd[matched] = tr.confirmed[matched] & ~new_conf[matched] & self._changed(tr, matched, t_mono)
        lost = tr.confirmed & (t_mono - tr.t_seen >= s.lost_after_s) & (tr.misses >= s.lost_after_frames)
        stale = ~tr.confirmed & (t_mono - tr.t_seen >= s.tentative_max_age_s) & (tr.misses >= s.tentative_max_misses)
        idle = np.flatnonzero(~tr.confirmed & (tr.misses > 0))
        if len(idle) and len(matched):  # a tentative track left beside one that took its object's box: a duplicate
            stale[idle] |= overlaps(pred[idle], tr.box[matched], s.duplicate_iou)

        report = np.flatnonzero(new_conf | upd)
        if len(report):
            tr.rep_box[report] = self._boxes(tr, report)
            tr.rep_class[report] = tr.klass[report]
            tr.t_rep[report] = t_mono
        events = [
            (np.flatnonzero(new_conf), EventKind.NEW),
            (np.flatnonzero(upd), EventKind.UPDATE),
            (np.flatnonzero(lost), EventKind.LOST),
        ]
        parts = []
        for idx, kind in events:
            if len(idx):
                boxes = tr.box[idx] if kind == EventKind.LOST else tr.rep_box[idx]
                parts.append(Detections.trusted(boxes, tr.score[idx], tr.klass[idx], tr.ids[idx]))
                kinds.append(np.full(len(idx), int(kind), np.int8))
                self.events[kind.name.lower()] += len(idx)
        seen = Detections.empty()
        if self.report_seen and len(matched):
            quiet = matched[tr.confirmed[matched] & ~new_conf[matched] & ~upd[matched]]
            seen = Detections.trusted(self._boxes(tr, quiet), tr.score[quiet], tr.klass[quiet], tr.ids[quiet])
        drop = lost | stale
        if drop.any():
            self._t = tr.select(~drop)

        taken = np.zeros(len(dets), bool)
        taken[md] = True
        if len(md):  # a second box on an object matched in this frame starts no track
            taken |= overlaps(dets.xyxy, dets.xyxy[md], s.duplicate_iou)
        fresh = np.flatnonzero(~taken & (dets.score >= s.new_track_threshold))
        if len(fresh):
            self._start(dets[fresh], t_mono)
            if s.min_hits <= 1:  # confirmed at once: report NEW in this frame
                n = len(fresh)
                t = self._t
                idx = np.arange(len(t) - n, len(t))
                t.confirmed[idx] = True
                t.rep_box[idx] = t.box[idx]
                t.rep_class[idx] = t.klass[idx]
                t.t_rep[idx] = t_mono
                parts.append(Detections.trusted(t.box[idx], t.score[idx], t.klass[idx], t.ids[idx]))
                kinds.append(np.full(n, int(EventKind.NEW), np.int8))
                self.events["new"] += n
        if not parts:
            return TrackEvents(Detections.empty(), np.empty(0, np.int8), seen)
        return TrackEvents(Detections.concat(parts), np.concatenate(kinds), seen)

    def _match(
        self,
        det_for_track: np.ndarray,
        pred: np.ndarray,
        dets: Detections,
        cand: np.ndarray,
        iou: float,
        by_distance: np.ndarray,
    ) -> None:
        """Match the unmatched tracks (``det_for_track`` -1, filled in place) with detections ``cand`` (indices into
        ``dets``): by IoU >= ``iou`` with the predicted boxes ``pred`` (T, 4), then the tracks left where
        ``by_distance`` (T,) by centre distance (same class, within ``match_distance`` sigmas of the prediction)."""
        left = np.flatnonzero(det_for_track < 0)
        r, c = greedy_match(iou_matrix(pred[left], dets.xyxy[cand]), iou)
        det_for_track[left[r]] = cand[c]
        if self.s.match_distance <= 0:
            return
        tr = self._t
        left = np.flatnonzero((det_for_track < 0) & by_distance)
        free = np.setdiff1d(cand, cand[c])
        d2 = kalman.centre_distance2(tr.mean[left], tr.cov[left], dets.xyxy[free])
        near = np.clip(1.0 - np.sqrt(d2) / self.s.match_distance, 0.0, None)
        near[tr.klass[left][:, None] != dets.class_id[free][None, :]] = 0.0
        near[d2 > self._others_d2(left, dets.xyxy[free])] = 0.0  # no hop onto a neighbour's box
        near[self._new_nearer(left, dets.xyxy[free])] = 0.0  # ... nor onto the box of one being confirmed
        r, c = greedy_match(near, 1e-6)
        det_for_track[left[r]] = free[c]

    def _others_d2(self, left: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(L, D) squared distance (sigmas) of boxes (D, 4) xyxy from the nearest confirmed track's prediction other
        than track ``left[i]`` itself (matched in this frame or not); inf where there is none."""
        tr = self._t
        conf = np.flatnonzero(tr.confirmed)
        out = np.full((len(left), len(boxes)), np.inf)
        if len(conf) == 0 or not len(boxes) or not len(left):
            return out
        d2 = kalman.centre_distance2(tr.mean[conf], tr.cov[conf], boxes)  # (C, D)
        order = np.argsort(d2, axis=0, kind="stable")
        best = d2[order[0], np.arange(len(boxes))]
        second = d2[order[1], np.arange(len(boxes))] if len(conf) > 1 else np.full(len(boxes), np.inf)
        own_best = tr.ids[conf][order[0]][None, :] == tr.ids[left][:, None]  # (L, D): track i is the nearest itself
        return np.where(own_best, second[None, :], best[None, :])

    def _new_nearer(self, left: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(L, D) True where box ``boxes[j]`` (xyxy) lies nearer, in pixels, to the prediction of a tentative track
        matched in the previous frame than to track ``left[i]``'s own.

        In pixels, not sigmas: a new track's velocity is not known yet, so its spread is wide and every box would
        lie near it in sigmas. The failure it stops: of two walkers 20 px apart at dusk, the one behind scored
        under high_threshold in most frames and its tracks never got confirmed (a low box only matches by IoU, a
        tentative track), so when the day camera missed the one in front, that one's track took its neighbour's
        box 15 px off."""
        tr = self._t
        new = np.flatnonzero(~tr.confirmed & (tr.misses == 0))
        out = np.zeros((len(left), len(boxes)), bool)
        if not len(new) or not len(boxes) or not len(left):
            return out
        centres = kalman.xyxy_to_cxcywh(boxes)[:, :2]  # (D, 2)
        own = np.hypot(*(centres[None, :, :] - tr.mean[left, None, :2]).transpose(2, 0, 1))  # (L, D)
        theirs = np.hypot(*(centres[None, :, :] - tr.mean[new, None, :2]).transpose(2, 0, 1)).min(0)  # (D,)
        return np.asarray(theirs[None, :] < own)

    def _boxes(self, tr: _Tracks, idx: np.ndarray) -> np.ndarray:
        """Filtered boxes (xyxy float32) of tracks ``idx``."""
        return cxcywh_to_xyxy(tr.mean[idx, :4]).astype(np.float32)

    def _changed(self, tr: _Tracks, idx: np.ndarray, t: float) -> np.ndarray:
        """(len(idx),) bool: moved by ``update_move`` of its size, changed class, or the update interval passed."""
        s = self.s
        cur = self._boxes(tr, idx)
        last = tr.rep_box[idx]
        size = np.maximum(np.maximum(last[:, 2] - last[:, 0], last[:, 3] - last[:, 1]), 1.0)
        moved = np.hypot(
            (cur[:, 0] + cur[:, 2] - last[:, 0] - last[:, 2]) / 2, (cur[:, 1] + cur[:, 3] - last[:, 1] - last[:, 3]) / 2
        )
        out = (moved >= s.update_move * size) | (tr.klass[idx] != tr.rep_class[idx])
        if s.update_interval_s > 0:
            out |= t - tr.t_rep[idx] >= s.update_interval_s
        return np.asarray(out)

    def _start(self, dets: Detections, t: float) -> None:
        n = len(dets)
        mean, cov = kalman.initiate(dets.xyxy)
        votes = np.zeros((n, int(dets.class_id.max()) + 1), np.float32)
        votes[np.arange(n), dets.class_id] = dets.score
        new = _Tracks(
            mean=mean,
            cov=cov,
            ids=np.arange(self._next_id, self._next_id + n, dtype=np.int64),
            hits=np.ones(n, np.int64),
            misses=np.zeros(n, np.int64),
            confirmed=np.zeros(n, bool),
            t_seen=np.full(n, t),
            t_state=np.full(n, t),
            score=dets.score.copy(),
            votes=votes,
            box=dets.xyxy.copy(),
            rep_box=dets.xyxy.copy(),
            rep_class=dets.class_id.copy(),
            t_rep=np.full(n, t),
        )
        self._next_id += n
        self._t = self._t.extend(new)

    @property
    def started(self) -> int:
        """Tracks started so far, tentative ones included (a flood of them is clutter)."""
        return self._next_id - 1

    def health(self) -> Health:
        t = self._t
        return {
            "name": self.name,
            "frames": self.frames,
            "tracks_confirmed": int(t.confirmed.sum()),
            "tracks_tentative": int((~t.confirmed).sum()),
            "tracks_started": self.started,
            "events": dict(self.events),
        }
