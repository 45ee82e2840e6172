"""A real ipykernel driven through jupyter_client, for tests that need what a notebook front end sees."""

from __future__ import annotations

import contextlib
import os
import time

from jupyter_client.manager import KernelManager


class Kernel:
    """A started kernel with `%load_ext imagemagic` done; `messages(msg_id)` yields its iopub replies."""

    def __init__(self, manager, client):
        self.manager = manager
        self.client = client

    def execute(self, code):
        """Send code; return its msg_id without waiting."""
        return self.client.execute(code)

    def messages(self, msg_id, timeout=60):
        """The iopub messages of one execution (msg_type, content), until the kernel is idle again."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            yield msg["msg_type"], msg["content"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return

    def run(self, code, timeout=60):
        """Execute code to the end; return its iopub messages."""
        return list(self.messages(self.execute(code), timeout))

    def output(self, code):
        """What executing code printed to stdout."""
        return "".join(c["text"] for t, c in self.run(code) if t == "stream" and c["name"] == "stdout")


@contextlib.contextmanager
def kernel(**env):
    """Start a python3 kernel with extra environment variables; shut it down afterwards."""
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env={**os.environ, **env})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        started = Kernel(manager, client)
        started.run("%load_ext imagemagic")
        yield started
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
