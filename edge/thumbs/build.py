"""Build the thumbnail stages from the config (called by ``edge.app`` when ``[thumbnails] enabled``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.thumbs.collector import CropCollector
from edge.thumbs.service import ThumbnailService
from edge.thumbs.settings import ThumbnailSettings
from edge.thumbs.store import CropStore, load_key
from edge.uplink.spool import Spool

STORE_FILE = "crops.sqlite"


@dataclass(frozen=True, slots=True)
class Thumbnails:
    """The collector (an EventSink and frame observer; a Stage) and the request service (a Stage)."""

    collector: CropCollector
    service: ThumbnailService


def build_thumbnails(settings: ThumbnailSettings, state_dir: Path, spool: Spool, boot: int) -> Thumbnails:
    """The crop store in ``state_dir`` (key from ``settings.key_credential``) and its two stages.
    Raises ValueError (a malformed key) or OSError (the store cannot be opened)."""
    store = CropStore(state_dir / STORE_FILE, load_key(settings.key_credential), settings.max_bytes, settings.max_age_s)
    return Thumbnails(CropCollector(settings, store, boot), ThumbnailService(settings, store, spool, boot, state_dir))
