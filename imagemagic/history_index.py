"""The history's index: one SQLite row per stored image, in `<home>/index.sqlite3`.

It answers history queries (prompt text, model, dates, run id) and gives prune its sizes without
reading every metadata file. WAL mode: readers never wait for a writer, and kernels sharing one
history folder write in turn. It is derived data, kept in step with the files (a row added on save,
removed on prune): when it is missing, damaged, or marked stale by a write that failed, it is rebuilt
from the `.json` files. Where it cannot be opened at all (a read-only folder), reads use an index
built in memory from the same files. Like the images, it is owner-only (0600, its -wal and -shm too: `private`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path

NAME = "index.sqlite3"
STALE = "index.stale"  # present when a save could not update the index: the next open rebuilds it
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    file TEXT PRIMARY KEY,      -- the image, relative to the history folder
    saved REAL NOT NULL,        -- when it was written (Unix time)
    model TEXT,
    run TEXT,                   -- the sweep or batch id given in the saver's metadata, if any
    prompt_fold TEXT NOT NULL,  -- the prompt, casefolded for case-insensitive search
    footprint INTEGER NOT NULL, -- bytes on disk: the image plus its metadata file
    meta TEXT NOT NULL          -- the metadata file's JSON
);
CREATE INDEX IF NOT EXISTS entries_saved ON entries (saved);
CREATE INDEX IF NOT EXISTS entries_run ON entries (run, saved);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT);
"""
INSERT = "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)"


def row(file: str, meta: dict, footprint: int) -> tuple:
    """The index row of one stored image."""
    run = meta.get("run")
    return (
        file,
        float(meta.get("saved") or 0),
        meta.get("model"),
        None if run is None else str(run),
        str(meta.get("prompt", "")).casefold(),
        footprint,
        json.dumps(meta, ensure_ascii=False),
    )


def private(path: Path) -> None:
    """Make an SQLite database owner-only (0600) before it is opened: created so if missing, narrowed if wider,
    with its -wal, -shm and -journal files (SQLite gives new ones the database's mode). Prompts and spending are
    nobody else's. A file we may not change keeps its mode."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for file in (path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
        except OSError:
            continue  # absent, or not ours


def _damaged(exc):
    """True for SQLite's "not a database" and "disk image is malformed" (plain DatabaseError), not a busy lock."""
    return type(exc) is sqlite3.DatabaseError


class HistoryIndex:
    """The index of the history folder `home`; `run(work)` calls `work(connection)` on the built index."""

    def __init__(self, home):
        self.home = Path(home)
        self.path = self.home / NAME

    def rows_from_files(self):
        """Index rows read from every metadata file (the slow path the index exists to avoid)."""
        for meta_path in (self.home / "images").glob("*/*.json"):
            if meta_path.name.startswith("."):
                continue
            try:
                meta = json.loads(meta_path.read_bytes())
                image = meta_path.parent / meta["file"]
                footprint = image.stat().st_size + meta_path.stat().st_size
                yield row(str(image.relative_to(self.home)), meta, footprint)
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # a damaged or foreign file, or an image already gone: not an entry

    def _connect(self, path):
        if path != ":memory:":
            private(path)
        db = sqlite3.connect(path, timeout=30, isolation_level=None)  # autocommit; transactions are explicit
        try:
            if path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # the index can be rebuilt: no fsync per commit
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _fill(self, db):
        db.execute("DELETE FROM entries")
        db.executemany(INSERT, self.rows_from_files())
        db.execute("INSERT OR REPLACE INTO state VALUES ('built', ?)", (str(time.time()),))

    def _open(self):
        """A connection to the on-disk index, built from the files first if it is new or stale."""
        db = self._connect(self.path)
        try:
            stale = self.home / STALE
            if stale.exists() or not db.execute("SELECT 1 FROM state WHERE name = 'built'").fetchone():
                db.execute("BEGIN IMMEDIATE")  # one process rebuilds; the others wait, then find it built
                try:
                    if stale.exists() or not db.execute("SELECT 1 FROM state WHERE name = 'built'").fetchone():
                        self._fill(db)
                        stale.unlink(missing_ok=True)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except BaseException:
            db.close()
            raise
        return db

    def _discard(self):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _attempt(self, work):
        db = self._open()
        try:
            with db:  # commits what `work` began, or rolls it back
                return work(db)
        finally:
            db.close()

    def run(self, work, *, in_memory=False):
        """`work(db)` on the index; a damaged index is discarded, rebuilt and the work redone. With
        `in_memory=True`, an index that cannot be opened (a read-only folder) is replaced by one built
        in memory from the files."""
        try:
            try:
                return self._attempt(work)
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    raise
                self._discard()
                return self._attempt(work)
        except (sqlite3.Error, OSError):
            if not in_memory:
                raise
        db = self._connect(":memory:")
        try:
            self._fill(db)
            return work(db)
        finally:
            db.close()

    def add(self, file: str, meta: dict, footprint: int) -> None:
        """Index one stored image; when the index cannot take it, mark the index stale (never raises)."""

        def insert(db):
            db.execute("BEGIN IMMEDIATE")
            db.execute(INSERT, row(file, meta, footprint))

        try:
            self.run(insert)
        except (sqlite3.Error, OSError):
            try:
                (self.home / STALE).touch()
            except OSError:
                pass  # the image and its metadata are on disk; a later rebuild finds them


def select(db, *, limit=None, prompt=None, model=None, since=None, until=None, run=None) -> list:
    """(file, metadata JSON) of the entries that match, newest first: `prompt` is a case-insensitive
    substring, `since`/`until` Unix times (since included, until not), `limit` None for all."""
    tests = (
        ("instr(prompt_fold, ?) > 0", None if prompt is None else prompt.casefold()),
        ("model = ?", model),
        ("saved >= ?", since),
        ("saved < ?", until),
        ("run = ?", run),
    )
    where = [(sql, value) for sql, value in tests if value is not None]
    query = "SELECT file, meta FROM entries"
    query += " WHERE " + " AND ".join(sql for sql, _ in where) if where else ""
    query += " ORDER BY saved DESC, rowid DESC" + (" LIMIT ?" if limit is not None else "")
    values = [value for _, value in where] + ([limit] if limit is not None else [])
    return db.execute(query, values).fetchall()


def total(db) -> int:
    """The footprint of every entry together, in bytes."""
    return db.execute("SELECT coalesce(sum(footprint), 0) FROM entries").fetchone()[0]


def oldest(db) -> sqlite3.Cursor:
    """(file, footprint, run) of every entry, oldest first, read as iterated; close it before writing."""
    return db.execute("SELECT file, footprint, run FROM entries ORDER BY saved, rowid")


def remove(db, files) -> None:
    """Drop the rows of deleted images."""
    db.execute("BEGIN IMMEDIATE")
    db.executemany("DELETE FROM entries WHERE file = ?", [(f,) for f in files])
