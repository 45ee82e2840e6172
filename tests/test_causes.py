"""An error the library raises in place of another keeps it as its cause (`raise ... from exc`), so a
traceback in plain Python says what really failed; the lines users see stay one line each."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

import imagemagic
from imagemagic import ValidationError
from imagemagic.inputs import collect
from imagemagic.server.embedded import ListenError, listen

PACKAGE = Path(imagemagic.__file__).parent


def _raises_from_none(path: Path) -> list[str]:
    """`raise X(...) from None` lines of a module, except UsageError (IPython shows it as one line anyway)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.cause, ast.Constant) and node.cause.value is None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if not (isinstance(raised, ast.Name) and raised.id == "UsageError"):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_no_library_error_drops_its_cause():
    dropped = [line for path in sorted(PACKAGE.rglob("*.py")) for line in _raises_from_none(path)]
    assert dropped == []


def test_an_unreadable_input_file_is_one_line_with_the_os_error_as_its_cause(tmp_path):
    with pytest.raises(ValidationError) as caught:
        collect(tmp_path / "none.png")
    assert str(caught.value) == f"image '{tmp_path / 'none.png'}' could not be read: No such file or directory"
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_taken_port_is_one_line_with_the_os_error_as_its_cause():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ListenError) as caught:
            listen("127.0.0.1", port)
    finally:
        taken.close()
    assert str(caught.value) == f"port {port} on 127.0.0.1 is in use: stop what uses it, or choose another with --port"
    assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__ is not caught.value


def test_a_usage_error_with_a_cause_is_still_one_line_in_the_magic(ip):
    ip.user_ns["xs"] = list(range(30))
    with capture_output() as captured:
        ip.run_cell("%%imagegen --grid k=xs\ncard {k}")
    assert captured.stderr == (
        "UsageError: this run makes 30 images, more than the sweep limit of 24 (est. cost $6.32); "
        "nothing was sent. To go ahead: --limit 30 (limit=30 in Python)\n"
    )
