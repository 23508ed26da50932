"""``edge check-config FILE``: exit 0 when the config is valid, 2 with one ``FILE: key: reason`` line per problem.

``check`` is what ``edge run`` calls before it starts anything: the schema (``load_config``: types, ranges, finite
numbers, files that exist), then what the daemon would refuse at start — the state directory, the model (read on the
CPU: input shape, labels, layout, preprocessing), the calibration and DEM files, TLS files, the MAVLink signing key,
the camera backend and the console's login and basemap.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.config import Config, ConfigError, load_config, state_dir
from edge.detect.settings import DetectorSettings

KEYED = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+( / [a-z_.]+)*: ")  # a message that starts by naming its key


def _named(key: str, err: BaseException) -> str:
    """``key: reason``, unless ``err``'s message already starts with a config key."""
    msg = str(err) or type(err).__name__
    return msg if KEYED.match(msg) else f"{key}: {msg}"


def _state_dir(cfg: Config) -> list[str]:
    key = "vehicle.state_dir" + (" ($STATE_DIRECTORY)" if os.environ.get("STATE_DIRECTORY") else "")
    return _writable_folder(key, state_dir(cfg))


def _writable_folder(key: str, sdir: Path) -> list[str]:
    """``key: reason`` unless ``sdir`` is a writable folder or can be made."""
    if sdir.exists():
        if not sdir.is_dir():
            return [f"{key}: {sdir} is not a folder"]
        if not _can_write(sdir):
            return [f"{key}: {sdir} is not writable by this user"]
        return []
    parent = next(p for p in sdir.absolute().parents if p.exists())
    if not parent.is_dir() or not _can_write(parent):
        return [f"{key}: {sdir} does not exist and cannot be made ({parent} is not a writable folder)"]
    return []


def _can_write(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (tried: root passes os.access on a read-only mount or /proc)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The logger ``name`` says only errors while the check reads a model (the daemon says the rest at start)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _model(cfg: Config) -> list[str]:
    """Each distinct detector (``[detector]`` and every ``[cameras.detector]``), read once."""
    from edge.cameras import camera_setups
    from edge.detect.model import check_model
    from edge.detect.session import ModelError

    named = [("detector", cfg.detector)] + [
        (f"{c.key}.detector", c.detector) for c in camera_setups(cfg) if c.detector is not cfg.detector
    ]
    out: list[str] = []
    seen: list[DetectorSettings] = []
    for key, settings in named:
        if settings in seen:
            continue
        seen.append(settings)
        try:
            with _quiet("edge.detect"):
                check_model(settings)
        except ModelError as err:
            msg = _named("detector.model", err)
            out.append(key + msg.removeprefix("detector") if key != "detector" else msg)
    return out


def _geo(cfg: Config) -> list[str]:
    from edge.cameras import camera_setups
    from edge.geo.camera_model import CalibrationError, CameraModel
    from edge.geo.terrain import TerrainError, open_dem

    out = []
    files: dict[str | None, str] = {cfg.geo.calibration_file: "geo"}
    for c in camera_setups(cfg):
        files.setdefault(c.geo.calibration_file, f"{c.key}.geo")
    for path, key in files.items():
        if path:
            try:
                CameraModel.from_file(path)
            except (CalibrationError, OSError) as err:
                out.append(_named(f"{key}.calibration_file", err))
    if cfg.geo.dem_path:
        try:
            open_dem(cfg.geo.dem_path)
        except (TerrainError, OSError) as err:
            out.append(_named("geo.dem_path", err))
    return out


def _mqtt(cfg: Config) -> list[str]:
    m = cfg.mqtt
    if not m.url:
        return []
    from edge.uplink.conn import parse_url

    if not (m.tls or parse_url(m.url).tls):
        return []
    if m.keyfile and not m.certfile:
        return ["mqtt.keyfile: set mqtt.certfile too (the client certificate the key belongs to)"]
    try:
        ctx = ssl.create_default_context(cafile=m.cafile or None)
    except (ssl.SSLError, OSError) as err:
        return [f"mqtt.cafile: {m.cafile or 'the system CA store'}: not a usable PEM CA bundle ({err})"]
    if m.certfile:
        try:
            ctx.load_cert_chain(m.certfile, m.keyfile or None)
        except (ssl.SSLError, OSError) as err:
            return [f"mqtt.certfile: {m.certfile} / mqtt.keyfile: not a usable PEM certificate and key ({err})"]
    return []


def _mavlink(cfg: Config) -> list[str]:
    if not cfg.mavlink.url or cfg.mavlink.signing == "off":
        return []
    from edge.sources.mavlink_signing import load_key

    try:
        load_key(cfg.mavlink.signing_key_file)
    except ValueError as err:
        return [_named("mavlink.signing", err)]
    return []


def _camera(cfg: Config) -> list[str]:
    from edge.cameras import camera_setups
    from edge.sources.camera_open import CameraError, resolve_backend

    out = []
    for c in camera_setups(cfg):
        try:
            kind = resolve_backend(c.camera)
        except CameraError as err:
            out.append(f"{c.key}.url: {str(err).removeprefix('camera.url: ')}")
            continue
        url = c.camera.url.strip()
        if kind == "file" and "://" not in url and not Path(url).exists():
            out.append(f"{c.key}.url: {url}: no such video file (a device is /dev/videoN or an index, a stream a URL)")
    return out


def hint(cfg: Config) -> str | None:
    """A line for ``edge check-config`` when the config uses an older form that still works."""
    if cfg.camera.url.strip() and not cfg.cameras:
        return (
            "hint: [camera] still works as one camera; for several, rename it [[cameras]] (one table each, "
            "with priority, max_fps, [cameras.geo], [cameras.detector]; README: Several cameras)"
        )
    return None


def _console(cfg: Config) -> list[str]:
    c = cfg.console
    if not c.enabled:
        return []
    from edge.console.auth import Auth, AuthError
    from edge.console.basemap import Basemap, BasemapError

    out = []
    if bool(c.tls_cert) != bool(c.tls_key):
        out.append("console.tls_cert / console.tls_key: set both or neither")
    elif c.tls_cert and c.tls_key:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(c.tls_cert, c.tls_key)
        except (OSError, ssl.SSLError) as err:
            out.append(f"console.tls_cert / console.tls_key: not a usable PEM certificate and key ({err})")
    try:
        Auth(c)
    except AuthError as err:
        out.append(_named("console.bind", err))
    try:
        Basemap(c)
    except BasemapError as err:
        out.append(_named("console.basemap", err))
    return out


def _thumbnails(cfg: Config) -> list[str]:
    if not cfg.thumbnails.enabled:
        return []
    from edge.thumbs.store import CropKeyError, load_key

    try:
        load_key(cfg.thumbnails.key_credential)
    except CropKeyError as err:
        return [str(err)]
    return []


def _clips(cfg: Config) -> list[str]:
    c = cfg.clips
    if not c.enabled:
        return []
    import shutil

    problems = _writable_folder("clips.folder", Path(c.folder)) if c.folder else []
    tools = [("clips.ffmpeg", c.ffmpeg)]
    if c.source != "encode":
        tools.append(("clips.ffmpeg", str(Path(c.ffmpeg).with_name("ffprobe")) if "/" in c.ffmpeg else "ffprobe"))
    return problems + [
        f"{key}: {tool!r} not found: install ffmpeg or set the path" for key, tool in tools if not shutil.which(tool)
    ]


# (the key a check is about, the check): each returns "key: reason" lines
CHECKS: tuple[tuple[str, Callable[[Config], list[str]]], ...] = (
    ("vehicle.state_dir", _state_dir),
    ("mavlink", _mavlink),
    ("mqtt", _mqtt),
    ("geo", _geo),
    ("camera.url", _camera),
    ("console", _console),
    ("clips", _clips),
    ("thumbnails", _thumbnails),
    ("detector", _model),
)


def check(path: str | Path) -> Config:
    """The config at ``path`` if ``edge run`` can start with it; else ConfigError with every ``FILE: key: reason``.

    An unexpected exception in a check is a refusal naming the section, never a traceback."""
    try:
        cfg = load_config(path)
    except ConfigError:
        raise
    except Exception as err:  # a validator that raised something other than ValueError
        raise ConfigError([f"{path}: (top level): cannot validate: {type(err).__name__}: {err}"]) from None
    problems = []
    for key, fn in CHECKS:
        try:
            problems += [f"{path}: {line}" for line in fn(cfg)]
        except Exception as err:
            problems.append(f"{path}: {key}: {type(err).__name__}: {err}")
    if problems:
        raise ConfigError(problems)
    return cfg


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edge check-config", description=__doc__)
    parser.add_argument("file", help="TOML config file")
    ns = parser.parse_args(argv)
    try:
        cfg = check(ns.file)
    except ConfigError as err:
        for line in err.problems:
            print(line, file=sys.stderr)
        return 2
    print(f"{ns.file}: ok")
    if (tip := hint(cfg)) is not None:
        print(f"{ns.file}: {tip}")
    return 0
