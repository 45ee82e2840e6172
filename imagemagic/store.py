"""History on disk: every final image is written, with its metadata, before it is shown.

Layout: `<home>/images/<YYYY-MM-DD>/<HHMMSS>-<call>-<n>.<ext>` plus a `.json` beside it holding
the prompt, every parameter, model, endpoint host, created, request id, usage and revised
prompt. Writes are atomic (temporary file, then rename). `<home>` is $IMAGEMAGIC_HOME or the
user data directory from platformdirs. No key is ever written: requests carry none.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path

HOME_ENV = "IMAGEMAGIC_HOME"


def default_home():
    """$IMAGEMAGIC_HOME, else the platform's user data directory for imagemagic."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("imagemagic", appauthor=False))


def atomic_write(path, data):
    """Write bytes to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class HistoryStore:
    """The history folder. `saver(request, endpoint)` gives the callback that stores one call's images."""

    def __init__(self, home=None):
        self.home = Path(home) if home else default_home()

    def __repr__(self):
        return f"<HistoryStore {self.home}>"

    def saver(self, request, endpoint):
        """A callable storing each final image of one call; its `.paths` lists the files in slot order."""
        return _CallSaver(self, request, endpoint)

    def save(self, img, meta, stem):
        """Write one image and its metadata; return the image's path."""
        folder = self.home / "images" / time.strftime("%Y-%m-%d")
        path = folder / f"{stem}-{img.index + 1}.{img.format}"
        atomic_write(path, img.data)
        record = {
            **meta, "file": path.name, "index": img.index, "format": img.format,
            "request_id": img.request_id, "usage": img.usage, "revised_prompt": img.revised_prompt,
            "saved": time.time(),
        }
        atomic_write(path.with_suffix(".json"), json.dumps(record, indent=1, ensure_ascii=False).encode())
        return path


class _CallSaver:
    def __init__(self, store, request, endpoint):
        self.store = store
        self.stem = f"{time.strftime('%H%M%S')}-{secrets.token_hex(3)}"
        body = request.body()
        self.meta = {
            "prompt": request.prompt, "model": request.model,
            "parameters": {k: v for k, v in body.items() if k != "prompt"},
            "endpoint": endpoint.host, "created": int(time.time()),
        }
        self.by_slot = {}

    def __call__(self, img):
        self.by_slot[img.index] = self.store.save(img, self.meta, self.stem)

    @property
    def paths(self):
        return [self.by_slot[k] for k in sorted(self.by_slot)]
