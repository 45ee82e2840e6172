"""Where an image's bytes go while its base64 is decoded: a file in the history folder, or memory.

A spool takes the decoded bytes piece by piece (`write`), counts them and keeps the first bytes (to
sniff the format) so that nothing reads the image again to show or store it (only a stored final's
file is hashed, later: a partial never is). A
`FileSpool` writes a hidden temporary file (`.incoming-<pid>.<host>-*.tmp`) in the history's one folder of
incoming images (`incoming(root)`), which the history store renames it out of (no second copy, no fsync until
it is stored); a `MemorySpool` holds the bytes
once, in one bytearray. `finish()` closes the spool and gives the `GeneratedImage` fields that point
at its bytes; `discard()` drops them (an answer that turned out unusable).

A process killed mid-answer (kill -9) leaves its spool behind: `sweep(root)` deletes the spools whose process
is gone (its pid names no live process on this host; a spool of another host, or of no pid, once a day old),
never one of a live process, and `spooled_bytes(root)` is what all spools hold (the history counts it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

HEAD_BYTES = 64  # kept for format sniffing
PREFIX = ".incoming-"
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]  # spools of another host: not ours to judge
FOREIGN_STALE_S = 86400.0  # a spool whose owner cannot be checked is stale after a day
INCOMING = ".incoming"  # the folder, beside the day folders, where every spool is written


class MemorySpool:
    """Decoded bytes held once, in memory."""

    path: Path | None = None

    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def size(self) -> int:
        """The bytes held."""
        return len(self.data)

    def write(self, data: bytes) -> None:
        """Add decoded bytes."""
        self.data += data

    def finish(self) -> dict[str, Any]:
        """The GeneratedImage fields for these bytes."""
        return {"_data": self.data}

    def discard(self) -> None:
        """Drop the bytes."""
        self.data = bytearray()


class NullSpool:
    """Where the bytes of an image that is ignored go (one beyond `n`): nowhere, never to disk."""

    path: Path | None = None
    size = 0

    def write(self, data: bytes) -> None:
        """Drop decoded bytes."""

    def finish(self) -> dict[str, Any]:
        """No GeneratedImage fields: an ignored image is never made."""
        return {}

    def discard(self) -> None:
        """Nothing to drop."""


class FileSpool:
    """Decoded bytes written to a hidden temporary file in `folder`; raises OSError when it cannot be made.

    A write that fails (a full disk) loses nothing: what the file holds is read back and the rest is kept
    in memory (`failure` says why); storing it is then the history store's to try, and to report."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=f"{PREFIX}{os.getpid()}.{HOST}-", suffix=".tmp")
        self.path: Path | None = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=0)  # unbuffered: what was written is what the file holds
        self.size = 0
        self.head = b""
        self.memory: bytearray | None = None  # the bytes, once a write failed
        self.failure: str | None = None

    def write(self, data: bytes) -> None:
        """Add decoded bytes (written at once: nothing is held)."""
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.size += len(data)
        if self.memory is not None:
            self.memory += data
            return
        view, written = memoryview(data), 0
        try:
            while written < len(view):
                written += self._file.write(view[written:]) or 0
        except OSError as exc:
            self.failure = exc.strerror or str(exc)
            self._to_memory(view[written:])

    def _to_memory(self, unwritten: memoryview) -> None:
        assert self.path is not None
        self._file.close()
        self.memory = bytearray(self.path.read_bytes()[: self.size - len(unwritten)])
        self.memory += unwritten
        remove(self.path)
        self.path = None

    def finish(self) -> dict[str, Any]:
        """Close the file; the GeneratedImage fields that point at it (or at the bytes, after a failed write)."""
        self._file.close()
        if self.memory is not None:
            return {"_data": self.memory}
        return {"_path": self.path, "_size": self.size, "_head_bytes": self.head}

    def discard(self) -> None:
        """Close and delete the file."""
        self._file.close()
        self.memory = None
        if self.path is not None:
            remove(self.path)


def remove(path: Path) -> None:
    """Delete a spooled file if it is still there (a stored image was renamed away from it)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def incoming(root: Path) -> Path:
    """The folder of spools under `root` (the history's images folder): one folder, so counting and sweeping
    them lists it alone, not every day folder."""
    return root / INCOMING


def spools(root: Path) -> list[Path]:
    """Every spool file under `root` (the history's images folder)."""
    return list(incoming(root).glob(f"{PREFIX}*.tmp"))


def spooled_bytes(root: Path) -> int:
    """What the spools under `root` hold on disk, in bytes (a spool gone meanwhile counts 0)."""
    total = 0
    for path in spools(root):
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total


def sweep(root: Path) -> int:
    """Delete the spools under `root` that no live process writes; how many were deleted."""
    gone = 0
    for path in spools(root):
        if _stale(path):
            remove(path)
            gone += 1
    return gone


def _stale(path: Path) -> bool:
    owner = path.name[len(PREFIX) :].split("-", 1)[0]
    pid, _, host = owner.partition(".")
    if not (pid.isdigit() and host == HOST) or os.name == "nt":  # no pid to ask about: by age alone
        try:
            return time.time() - path.stat().st_mtime > FOREIGN_STALE_S
        except OSError:
            return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: is that process there?
    except ProcessLookupError:
        return True
    except OSError:  # there, but another user's
        return False
    return False


Spool = FileSpool | MemorySpool | NullSpool
