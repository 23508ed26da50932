"""A tcp-client endpoint reaches a TCP autopilot (ArduPilot SITL listens on tcp:127.0.0.1:5760) and comes back
within about 2 s of the other side's return, however long it was gone."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from fwbridge.config import BridgeConfig
from pymavlink.dialects.v20 import ardupilotmega as mavlink


class TcpAutopilot:
    """A SITL-like autopilot: listens on ``port``, sends HEARTBEAT and GLOBAL_POSITION_INT at 20 Hz to its
    client, and keeps the COMMAND_LONGs it receives. ``stop`` closes the listener and the connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.commands: list[float] = []
        self.accepted = 0
        self._stop = threading.Event()
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", port))
        self._srv.listen(1)
        self._srv.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
        rx = mavlink.MAVLink(None)
        rx.robust_parsing = True
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(0.05)
            with conn:
                while not self._stop.is_set():
                    try:
                        conn.sendall(bytes(mavlink.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3).pack(mav)))
                        pos = mavlink.MAVLink_global_position_int_message(0, 426123400, 199451200, 0, 0, 0, 0, 0, 0)
                        conn.sendall(bytes(pos.pack(mav)))
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    for m in rx.parse_buffer(data) or []:
                        if m.get_type() == "COMMAND_LONG":
                            self.commands.append(m.param1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        with contextlib.suppress(OSError):
            self._srv.close()


def test_tcp_client_routes_and_reconnects_within_2_s(gcs_factory, kit):
    sitl_port, gcs_port = kit.free_port(socket.SOCK_STREAM), kit.free_port()
    cfg = BridgeConfig.model_validate(
        {
            "endpoint": [
                {"name": "fc", "mode": "tcp-client", "port": sitl_port},  # "fc": no serial port, so no clash
                {"name": "gcs", "port": gcs_port},
            ]
        }
    )
    gcs = gcs_factory(f"udpout:127.0.0.1:{gcs_port}")
    sitl = TcpAutopilot(sitl_port)
    try:
        with kit.BridgeThread(cfg) as bridge:
            got = kit.collect(gcs, 1.5)
            assert [m for m in got if m.get_type() == "GLOBAL_POSITION_INT"], "telemetry from the TCP autopilot"
            gcs.mav.command_long_send(1, 1, 400, 0, 250, 0, 0, 0, 0, 0, 0)
            kit.wait_for(lambda: sitl.commands == [250.0], 3, "the GCS's command at the TCP autopilot")
            sitl.stop()  # SITL killed: the bridge retries with a growing backoff while it is gone
            kit.wait_for(lambda: bridge.snapshot()["links"]["fc"]["state"] != "up", 3, "link noticed down")
            kit.collect(gcs, 6.0)  # gone for 6 s; what was on its way is read here, not counted as the return
            down = bridge.snapshot()["links"]["fc"]
            sitl = TcpAutopilot(sitl_port)
            t_back = time.monotonic()
            resumed = None
            while resumed is None and time.monotonic() - t_back < 5.0:
                if [m for m in kit.collect(gcs, 0.1) if m.get_type() == "GLOBAL_POSITION_INT"]:
                    resumed = time.monotonic() - t_back
            stats = bridge.snapshot()["links"]["fc"]
    finally:
        sitl.stop()
    assert down["state"] == "down" and "refused" in down["last_error"], down
    assert resumed is not None and resumed < 3.0, resumed  # the backoff caps at reconnect_max_s = 2 s
    assert stats["state"] == "up" and stats["opens"] == 2, stats
    assert sitl.accepted == 1
