"""Interrupting a real kernel: control back within a second, connection closed, partial kept, and Run All stops."""

from __future__ import annotations

import time

import psutil
import pytest
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
        errors = [content for kind, content in rest if kind == "error"]
        assert [e["ename"] for e in errors] == ["KeyboardInterrupt"]  # it reaches IPython: Run All stops here
        assert k.output("print(hero.partial, hero.images[0].partial, hero.images[0].partial_index)") == "True True 1\n"
        assert k.output("print(hero.images[0].wire_b64 == LAST)".replace("LAST", repr(shown[-1]))) == "True\n"


def _interrupt_when_busy(k, msg_id, seconds=1.0):
    """Interrupt the kernel `seconds` after `msg_id` started executing; return that execution's messages."""
    messages = k.messages(msg_id)
    seen = []
    for kind, content in messages:
        seen.append((kind, content))
        if kind == "execute_input":
            break
    time.sleep(seconds)
    k.manager.interrupt_kernel()
    return seen + list(messages)


def _reply(k, msg_id):
    while True:
        msg = k.client.get_shell_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


@pytest.mark.parametrize(
    ("cell", "line"),
    [
        ("%%imagegen --out hero\na lighthouse at dawn", "interrupted: the connection was closed\n"),
        (
            "%%imagegen --grid animal=fox,owl --out grid\na {animal}",
            "interrupted: 0 of 2 requests done (kept in grid); run it again to finish the rest\n",
        ),
    ],
)
def test_an_interrupt_stops_run_all_the_queued_cell_does_not_run(tmp_path, cell, line):
    with kernel(IMAGEMAGIC_PREVIEW_DELAY="30", IMAGEMAGIC_HOME=str(tmp_path)) as k:
        running = k.execute(cell)
        queued = k.execute("queued_cell_ran = True")  # Run All has sent it already
        rest = _interrupt_when_busy(k, running)
        assert ("stream", {"name": "stdout", "text": line}) in rest
        assert _reply(k, running)["ename"] == "KeyboardInterrupt"
        assert _reply(k, queued)["status"] == "aborted"
        assert k.output("print('queued_cell_ran' in globals())") == "False\n"
