"""Interrupting a real kernel mid-stream: control back within a second, connection closed, partial kept."""

from __future__ import annotations

import time

import psutil
from helpers.images import png_width
from helpers.kernels import kernel

from imagemagic.display import PLACEHOLDER_WIDTH


def http_sockets(manager):
    """The kernel's client-side sockets to its own in-process HTTP server (not the ZMQ channels)."""
    process = psutil.Process(manager.provisioner.pid)
    info = manager.get_connection_info()
    zmq_ports = {info[f"{name}_port"] for name in ("shell", "iopub", "stdin", "control", "hb")}
    connections = process.net_connections("tcp")
    http_ports = {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN} - zmq_ports
    return {
        c.laddr for c in connections if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port in http_ports
    }


def test_interrupt_mid_stream_binds_the_latest_partial(tmp_path):
    # 9 s per image and 2 partials: partials at about 3 s and 6 s, the final at 9 s.
    with kernel(IMAGEMAGIC_PREVIEW_DELAY="9", IMAGEMAGIC_HOME=str(tmp_path)) as k:
        msg_id = k.execute("%%imagegen --stream --partial-images 2 --size 1024x1024 --out hero\na lighthouse at dawn")
        messages = k.messages(msg_id)
        shown, arrivals = [], []
        for kind, content in messages:
            if kind == "update_display_data" and png_width(content["data"]["image/png"]) != PLACEHOLDER_WIDTH:
                shown.append(content["data"]["image/png"])
                arrivals.append(time.monotonic())
                if len(shown) == 2:
                    break
        open_sockets = http_sockets(k.manager)
        assert open_sockets, "the stream's connection should be open before the interrupt"

        interrupted = time.monotonic()
        k.manager.interrupt_kernel()
        rest = []
        for kind, content in messages:
            rest.append((kind, content))
        returned = time.monotonic() - interrupted

        assert returned < (arrivals[1] - arrivals[0]) / 3  # a fraction of the interval between two partials
        assert not open_sockets & http_sockets(k.manager)
        assert (
            "stream",
            {
                "name": "stdout",
                "text": "interrupted: the connection was closed; kept 1 image in hero (partial: True)\n",
            },
        ) in rest
        assert not any(kind == "error" for kind, _ in rest)
        assert k.output("print(hero.partial, hero.images[0].partial, hero.images[0].partial_index)") == "True True 1\n"
        assert k.output("print(hero.images[0].wire_b64 == LAST)".replace("LAST", repr(shown[-1]))) == "True\n"
