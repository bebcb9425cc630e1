"""One output folder per browser/API session, under Gradio's cache, bounded in age and disk.

``SESSIONS`` is the app's one instance; handlers and the page use it as ``sessions.SESSIONS`` (tests
replace it).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

import gradio as gr

from . import settings

log = logging.getLogger("humansplat.app")

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionFolders:
    """One output folder per browser/API session, under Gradio's cache so files are served without copies.

    ``root/<session>/<run>/`` holds one request's files. ``open`` runs on page load, ``close`` when the
    session ends (tab closed, ``Client.close()``). Two bounds hold for sessions that never end (API
    clients that skip ``close()``, crawlers), checked whenever a run starts and ends:

    * age: session folders not touched for ``ttl_s`` seconds are deleted (Gradio's ``delete_cache``
      deletes its own cached files after the same age, see :func:`humansplat.app.layout.build_demo`);
    * disk: the session folders plus Gradio's cached copies (uploads, hash-named folders directly under
      the cache folder) may hold at most ``max_bytes``; beyond it the oldest runs and copies are deleted
      first, never a run still being written nor the examples. A session whose files went this way is
      told so on its next request (:meth:`take_notice`).

    ``ttl_s`` and ``max_bytes`` default to ``settings.SESSION_TTL_S`` and ``settings.MAX_DISK_MB``.
    """

    def __init__(
        self,
        root: Path | None = None,
        ttl_s: float | None = None,
        max_bytes: int | None = None,
        cache: Path | None = None,
    ) -> None:
        self._root = None if root is None else Path(root)
        self._cache = None if cache is None else Path(cache)
        self.ttl_s = settings.SESSION_TTL_S if ttl_s is None else ttl_s
        self.max_bytes = int(settings.MAX_DISK_MB * 2**20) if max_bytes is None else max_bytes
        self.keep: set[str] = set()  # files never pruned (examples Gradio copied into its cache)
        self._active: set[Path] = set()  # runs being written
        self._reading: collections.Counter[Path] = collections.Counter()  # finished runs being read (reuse)
        self._purged: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def cache(self) -> Path:
        """The given cache, else Gradio's cache folder (GRADIO_TEMP_DIR is read now)."""
        return self._cache or Path(gr.utils.get_upload_folder())

    @property
    def root(self) -> Path:
        """The given root, else ``<cache>/humansplat-sessions``."""
        return self._root or self.cache / "humansplat-sessions"

    def _session_dir(self, session_hash: str | None) -> Path:
        name = session_hash or "anonymous"
        if not _SAFE_NAME.fullmatch(name):  # the hash comes from the client: never use it as a path as is
            name = hashlib.sha256(name.encode()).hexdigest()[:32]
        return self.root / name

    def open(self, request: gr.Request) -> None:
        """Create the session's folder (``demo.load``)."""
        self._session_dir(request.session_hash).mkdir(parents=True, exist_ok=True)

    def close(self, request: gr.Request) -> None:
        """Delete the session's folder and everything in it (``demo.unload``)."""
        folder = self._session_dir(request.session_hash)
        shutil.rmtree(folder, ignore_errors=True)
        self._purged.pop(folder.name, None)

    def new_run(self, request: gr.Request | None) -> Path:
        """A fresh, empty folder for one request (a new name each time: browsers cache files by URL).
        Call :meth:`finish` when the request ends."""
        self.prune()
        run = (
            self._session_dir(request.session_hash if request else None)
            / f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:8]}"
        )
        run.mkdir(parents=True)
        with self._lock:
            self._active.add(run)
        return run

    def finish(self, run: Path) -> None:
        """The request writing ``run`` ended: its folder may be pruned from now on; the bounds are applied."""
        with self._lock:
            if self._reading[run]:
                self._reading[run] -= 1
                self._reading += collections.Counter()  # drops zero counts
            else:
                self._active.discard(run)
        self.prune()

    def reuse(self, request: gr.Request | None, needs: tuple[str, ...]) -> Path | None:
        """The session's newest finished run folder holding every file named in ``needs`` (None if none).

        The folder is held (never pruned) until :meth:`finish` is called on it; several readers may hold it.
        """
        session = self._session_dir(request.session_hash if request else None)
        with self._lock:
            runs = [
                r for r in (session.iterdir() if session.is_dir() else ())
                if r not in self._active and all((r / name).is_file() for name in needs)
            ]
            if not runs:
                return None
            newest = max(runs, key=lambda r: _unit(r)[0])
            self._reading[newest] += 1
        return newest

    def _held(self) -> set[Path]:
        """Run folders the bounds must not delete: being written or being read."""
        return self._active | set(self._reading)

    def take_notice(self, request: gr.Request | None) -> str | None:
        """A message for a session some of whose earlier files were deleted to bound the disk (once)."""
        name = self._session_dir(request.session_hash if request else None).name
        with self._lock:
            count = self._purged.pop(name, 0)
        if not count:
            return None
        return (
            f"{count} earlier result(s) of this session were deleted to keep the app's files under "
            f"{self.max_bytes / 2**20:.0f} MB (oldest first); their download links no longer work. "
            "Download the files you want to keep when a result appears."
        )

    def prune(self) -> None:
        """Apply both bounds (class docstring): the age of session folders, then the disk cap."""
        with self._lock:
            self._prune_old()
            self._cap_disk()

    def _prune_old(self) -> None:
        if not self.root.is_dir():
            return
        now = time.time()
        for folder in self.root.iterdir():
            try:
                if now - folder.stat().st_mtime > self.ttl_s and not any(folder in r.parents for r in self._held()):
                    shutil.rmtree(folder, ignore_errors=True)
            except FileNotFoundError:
                continue

    def disk_units(self) -> list[tuple[float, int, Path]]:
        """What the disk cap may delete, as (modified time, bytes, path): every finished run folder and
        every entry of Gradio's cache except the sessions root and kept files; unsorted."""
        units: list[tuple[float, int, Path]] = []
        if self.root.is_dir():
            for session in self.root.iterdir():
                units += [_unit(run) for run in session.iterdir()] if session.is_dir() else []
        if self.cache.is_dir():
            for entry in self.cache.iterdir():
                if entry == self.root or self.root.is_relative_to(entry) or entry.name == settings.EXAMPLES_CACHE:
                    continue
                units.append(_unit(entry))
        held = self._held()
        return [u for u in units if u[2] not in held and not any(_contains(u[2], k) for k in self.keep)]

    def _cap_disk(self) -> None:
        units = self.disk_units()
        total = sum(size for _, size, _ in units) + sum(_unit(run)[1] for run in self._held() if run.exists())
        for _, size, path in sorted(units):
            if total <= self.max_bytes:
                break
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            total -= size
            if self.root in path.parents:
                session = path.parent.name
                self._purged[session] = self._purged.get(session, 0) + 1
                log.info("disk cap %.0f MB: deleted %s (%.1f MB)", self.max_bytes / 2**20, path, size / 2**20)


def _unit(path: Path) -> tuple[float, int, Path]:
    """(newest modification time, total bytes, path) of a file or folder (what vanished meanwhile counts 0)."""
    newest, size = 0.0, 0
    files = [path] if not path.is_dir() else [Path(d) / f for d, _, fs in os.walk(path) for f in fs]
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        newest, size = max(newest, st.st_mtime), size + st.st_size
    if path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            newest = max(newest, path.stat().st_mtime)
    return newest, size, path


def _contains(path: Path, file: str) -> bool:
    return file == str(path) or file.startswith(str(path) + os.sep)



SESSIONS = SessionFolders()
"""The app's session folders (limits from :mod:`humansplat.app.settings`)."""


def take_notice_and_warn(request: gr.Request | None) -> str | None:
    """:meth:`SessionFolders.take_notice` of ``SESSIONS``, also shown as a Gradio warning; returns it."""
    notice = SESSIONS.take_notice(request)
    if notice:
        gr.Warning(notice)
    return notice
