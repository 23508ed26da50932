"""``edge calibrate heading``: set a parked vehicle's heading from one known landmark the camera sees.

The crew picks a landmark with known coordinates (a mast, a building corner, a surveyed marker; the farther the
better), reads the pixel where it appears in a frame (any image viewer on a saved frame), and runs::

    edge calibrate heading --config /etc/edge/edge.toml --landmark 48.1230,11.5120 --pixel 812,377 --size 1920x1080

The vehicle's position comes from gpsd ([gps]) unless ``--position LAT,LON`` is given. The heading (and its
1-sigma error from the position error and the pixel error over the landmark's distance) is written to
``heading.json`` in the state directory; the running daemon picks it up within seconds and uses it while no better
heading source has one (``gps.heading_sources``) and the vehicle stays where it was calibrated. The camera model
and its mounting are the geolocator's ([geo]: field of view or calibration file, mount_*_deg, gimbal_mode); a mast
or gimbal that reports its angles live is taken at its configured mounting.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import cv2

from edge.app import state_dir
from edge.config import Config, ConfigError, load_config
from edge.geo.landmark import heading_from_landmark
from edge.geo.locator import GroundGeolocator
from edge.sources.heading import CALIBRATION_FILE, Calibration
from edge.types import Pose

log = logging.getLogger("edge.calibrate")


def _pair(text: str, sep: str, what: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(sep))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must look like A{sep}B, not {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise argparse.ArgumentTypeError(f"{what} must be finite numbers, not {text!r}")
    return a, b


def _latlon(text: str) -> tuple[float, float]:
    lat, lon = _pair(text, ",", "LAT,LON")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"LAT,LON out of range: {text!r}")
    return lat, lon


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge calibrate", description="Crew calibrations.")
    sub = p.add_subparsers(dest="what", required=True)
    h = sub.add_parser("heading", help="set the vehicle heading from a landmark seen at a pixel")
    h.add_argument("--config", "-c", default="/etc/edge/edge.toml", help="TOML config (default %(default)s)")
    h.add_argument("--landmark", required=True, type=_latlon, help="the landmark's LAT,LON (deg)")
    h.add_argument("--pixel", required=True, type=lambda t: _pair(t, ",", "X,Y"), help="where it is seen: X,Y px")
    size = h.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", type=lambda t: _pair(t, "x", "WxH"), help="the frame's size WxH px")
    size.add_argument("--frame", type=Path, help="a saved frame (its size is used)")
    h.add_argument("--position", type=_latlon, help="the vehicle's LAT,LON (deg); default: a fix from gpsd")
    h.add_argument("--wait", type=float, default=20.0, help="seconds to wait for a gpsd fix (default %(default)s)")
    return p


def _gpsd_position(cfg: Config, wait_s: float) -> tuple[float, float, float] | None:
    """(lat, lon, 1-sigma horizontal error m) of the camera from one gpsd 3D fix; None without one in ``wait_s``."""
    from edge.sources.gps import GpsdSource
    from edge.sources.pose import PoseStore

    store = PoseStore(cfg.pose.model_copy(update={"body_yaw_deg": 0.0}))
    src = GpsdSource(cfg.gps.model_copy(update={"heading_sources": []}), store)
    src.start()
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pose = store.pose_at(time.monotonic())
            if pose is not None:
                return pose.lat, pose.lon, pose.pos_err_m
            time.sleep(0.1)
    finally:
        src.stop()
    return None


def main(argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(ns.config)
    except ConfigError as err:
        for line in err.problems:
            log.error("%s", line)
        return 2
    if ns.frame is not None:
        img = cv2.imread(str(ns.frame))
        if img is None:
            log.error("%s: not an image", ns.frame)
            return 2
        width, height = img.shape[1], img.shape[0]
    else:
        width, height = int(ns.size[0]), int(ns.size[1])
    u, v = ns.pixel
    if not (0 <= u <= width and 0 <= v <= height):
        log.error("--pixel %g,%g is outside the %dx%d frame", u, v, width, height)
        return 2
    if cfg.geo.gimbal_mode == "earth":
        log.error("geo.gimbal_mode is earth: the camera's direction does not depend on the vehicle heading")
        return 2
    try:
        geo = GroundGeolocator(cfg.geo)
    except ValueError as err:  # an unreadable calibration file or DEM
        log.error("%s", err)
        return 2
    if ns.position is not None:
        lat, lon, pos_err = ns.position[0], ns.position[1], 1.0
    elif cfg.gps.enabled:
        fix = _gpsd_position(cfg, ns.wait)
        if fix is None:
            log.error(
                "no 3D fix from gpsd at %s:%d in %g s; give --position LAT,LON", cfg.gps.host, cfg.gps.port, ns.wait
            )
            return 1
        lat, lon, pos_err = fix
    else:
        log.error("gps.enabled is false: give the vehicle's --position LAT,LON")
        return 2
    ps = cfg.pose
    roll, pitch = math.radians(ps.body_roll_deg), math.radians(ps.body_pitch_deg)
    at_north = Pose(t_mono=0.0, lat=lat, lon=lon, alt=0.0, roll=roll, pitch=pitch, yaw=0.0, cam_frame="mount")
    camera, r_at_north, _ = geo.view(at_north, width, height)
    try:
        heading, dist = heading_from_landmark(camera, r_at_north, (lat, lon), ns.landmark, (u, v))
    except ValueError as err:
        log.error("%s", err)
        return 2
    err_deg = math.hypot(math.degrees(math.atan2(pos_err, dist)), math.degrees(cfg.geo.pixel_sigma_px / camera.fx))
    cal = Calibration(heading, lat, lon, err_deg, time.time())
    out = state_dir(cfg) / CALIBRATION_FILE
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(cal.to_json())
        tmp.replace(out)
    except OSError as err:
        log.error("cannot write %s (vehicle.state_dir): %s", out, err.strerror)
        return 2
    print(f"heading {heading:.1f} deg (1-sigma {err_deg:.1f} deg; landmark {dist:.0f} m away) written to {out}")
    return 0
