"""MAVLink routing between links, as the MAVLink routing rules say.

* Each link learns the (system, component) pairs whose frames arrive on it.
* A frame without a target, or with target system 0, goes to every link but the one it came from.
* A frame for system S / component C goes to the links where (S, C) was seen (C = 0: where S was seen);
  when C was never seen but S was, to S's links (components behind an autopilot); otherwise it is dropped
  and counted as unroutable on the source link.
* Frames are never sent back to the link they came from, and are forwarded byte for byte (signatures intact).
"""

from __future__ import annotations

import logging
import time
from typing import TypeVar

from fwbridge.frames import Frame, MsgInfo
from fwbridge.links import Link
from fwbridge.rates import RATE_MSG_IDS, RateHold
from fwbridge.stats import seq_gap

log = logging.getLogger("fwbridge")
K = TypeVar("K")


def _forget(table: dict[K, list[Link]], link: Link) -> None:
    for key in [k for k, v in table.items() if link in v]:
        table[key].remove(link)
        if not table[key]:
            del table[key]


class Router:
    """Holds the links and the learned routing table; ``handle`` is called with what a link received."""

    def __init__(
        self, table: dict[int, MsgInfo] | None = None, rates: RateHold | None = None, own: tuple[int, int] | None = None
    ) -> None:
        """``rates`` (with the dialect ``table``): hold the highest stream rate any client asked for; ``own``:
        the bridge's system/component id, whose frames (answers to its own requests) go nowhere."""
        self.table = table or {}
        self.rates = rates
        self.own = own
        self.links: list[Link] = []
        self._by_sys: dict[int, list[Link]] = {}
        self._by_comp: dict[tuple[int, int], list[Link]] = {}
        self._warned_ahead: dict[str, float] = {}  # link name -> when we last warned of a timestamp ahead

    def add(self, link: Link) -> None:
        self.links.append(link)

    def remove(self, link: Link) -> None:
        """Forget a link that is gone for good (a closed TCP client) and every route through it."""
        if link in self.links:
            self.links.remove(link)
        _forget(self._by_sys, link)
        _forget(self._by_comp, link)

    def routes(self) -> dict[str, list[str]]:
        """Learned 'sys/comp' pairs per link name, for statistics."""
        out: dict[str, list[str]] = {}
        for (s, c), links in sorted(list(self._by_comp.items())):  # list(): one step, safe from other threads
            for link in links:
                out.setdefault(link.name, []).append(f"{s}/{c}")
        return out

    def handle(self, src: Link, frames: list[Frame]) -> int:
        """Route what ``src`` received; the number of trusted frames (CRC-valid, signed where the link requires)."""
        now = time.monotonic()
        st = src.stats
        verifier = src.verifier
        require = src.settings.signing == "require"
        trusted = 0
        for f in frames:
            st.rx_msgs += 1
            st.rx_bytes += len(f.raw)
            key = (f.sysid, f.compid)
            last = src.last_seq.get(key)
            if last is not None:
                st.seq_lost += seq_gap(last, f.seq)
            src.last_seq[key] = f.seq
            reason = None
            if verifier is not None and (f.signed or require):
                reason = verifier.check(f)
                if reason is not None and not (reason == "unsigned" and f.msgid in src.settings.unsigned_ids):
                    st.signing_rejected += 1
                    log.debug("%s: refused msg %d from %d/%d: %s", src.name, f.msgid, f.sysid, f.compid, reason)
                    if reason == "timestamp ahead" and now - self._warned_ahead.get(src.name, -1e9) > 60:
                        self._warned_ahead[src.name] = now
                        log.warning(
                            "%s: signed frames from %d/%d carry a timestamp over 60 s ahead of this computer's "
                            "clock: refused (is the sender's clock, or ours, wrong?)",
                            src.name,
                            f.sysid,
                            f.compid,
                        )
                    continue
            if reason is None or not require:  # an unsigned RADIO_STATUS passes a require link but earns no trust
                trusted += 1
            if not src.accepts_in(f.msgid):
                st.drop_filter += 1
                continue
            self._learn(src, key)
            if self.own is not None and (f.target_sys, f.target_comp) == self.own:
                continue  # for the bridge itself: the autopilot's answer to a request the bridge made
            sends = None
            if self.rates is not None and f.msgid in RATE_MSG_IDS:
                sends = self.rates.forward(src.name, f, self.table[f.msgid].crc_extra)
            for dst in self._targets(src, f):
                if sends is None:
                    dst.output(f.raw, f.msgid, f.compid, now)
                    continue
                for raw, msgid in sends:  # frames the bridge made or rewrote are signed where the link signs
                    if raw is not f.raw and dst.signer is not None:
                        raw = dst.signer.sign(raw, self.table[msgid].crc_extra)
                    dst.output(raw, msgid, f.compid, now)
        return trusted

    def _learn(self, src: Link, key: tuple[int, int]) -> None:
        links = self._by_comp.get(key)
        if links is None:
            self._by_comp[key] = [src]
        elif src not in links:
            links.append(src)
        else:
            return
        sys_links = self._by_sys.setdefault(key[0], [])
        if src not in sys_links:
            sys_links.append(src)
        log.info("%s: learned system %d component %d", src.name, key[0], key[1])

    def _targets(self, src: Link, f: Frame) -> list[Link]:
        ts = f.target_sys
        if ts <= 0:
            return [link for link in self.links if link is not src]
        found = self._by_comp.get((ts, f.target_comp)) if f.target_comp > 0 else None
        if not found:
            found = self._by_sys.get(ts)
        if not found:
            src.stats.drop_unroutable += 1
            return []
        return [link for link in found if link is not src]

    def originate(self, raw: bytes, msgid: int, compid: int, crc_extra: int) -> None:
        """Send a frame the bridge made itself to every link, signed on links that have a signer."""
        now = time.monotonic()
        for link in self.links:
            if link.up:
                out = link.signer.sign(raw, crc_extra) if link.signer is not None else raw
                link.output(out, msgid, compid, now)
