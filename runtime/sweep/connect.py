"""Reaching an existing Ray cluster (`mmspec sweep --address`) within a bounded time.

`ray.init(address=...)` retries an unreachable head for minutes (its GCS client waits and
reconnects), so a mistyped host or a closed port would look like a hang. Two guards:
a TCP connection to the address first (a refused or silent port fails within the timeout, with the
reason), then `ray.init` itself in a watchdog thread that gives up after the same timeout (a port that
answers but is not a Ray head).
"""
from __future__ import annotations

import socket
import threading

from ..errors import RunError

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_PORTS = {"ray://": 10001, "": 6379}     # Ray client server; GCS of `ray start --head`
LOCAL = ("auto", "local")                         # addresses Ray resolves on this machine itself


def host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of HOST:PORT or ray://HOST:PORT; None for addresses Ray resolves itself (auto)."""
    if address in LOCAL:
        return None
    scheme = "ray://" if address.startswith("ray://") else ""
    rest = address[len(scheme):].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, DEFAULT_PORTS[scheme]
    if not port.isdigit() or not host:
        raise RunError(f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    return host.strip("[]"), int(port)


def probe(address: str, timeout_s: float) -> None:
    """A TCP connection to the cluster's address within `timeout_s`, or a RunError saying why not."""
    target = host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except socket.timeout:
        raise RunError(_unreachable(address, f"no answer within {timeout_s:g} s")) from None
    except OSError as err:
        raise RunError(_unreachable(address, err.strerror or str(err))) from None


def connect(ray, address: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """ray.init on an existing cluster, failing within about 2 x `timeout_s` instead of hanging."""
    probe(address, timeout_s)
    outcome: dict = {}

    def init():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            outcome["ok"] = True
        except BaseException as err:          # reported by the waiting thread
            outcome["error"] = err

    worker = threading.Thread(target=init, name="ray-connect", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise RunError(_unreachable(address, f"the port answers, but no Ray head replied within {timeout_s:g} s "
                                         "(not a Ray head's port, another Ray version, or a cluster that "
                                         "requires its token: RAY_AUTH_MODE=token RAY_AUTH_TOKEN=...)"))
    if "error" in outcome:
        err = outcome["error"]
        raise RunError(_unreachable(address, f"{type(err).__name__}: {err}")) from None


def _unreachable(address: str, reason: str) -> str:
    return (f"cannot reach the Ray cluster at {address!r}: {reason}\n"
            "start one with `ray start --head` (its address is printed there), check the host and port, "
            "raise --connect-timeout for a slow network, or leave out --address for a local Ray")
