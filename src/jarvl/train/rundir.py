"""A run directory that defends itself: one training at a time, and a policy for what is already there.

* **Lock.** A training holds an OS advisory lock (``fcntl.flock``) on ``RUN_DIR/.lock`` for its
  whole life; a second training into the same directory refuses at once, naming the process that
  holds it. The OS drops the lock when the holder exits, however it exits, so a lock left by a
  crashed or killed run is stale and never blocks a ``--resume``. Under torchrun only rank 0 takes
  it (the other ranks write nothing to the run directory).
* **Policy.** A directory that already holds a run (``config.json``, ``checkpoints/``, ...) is
  continued with ``resume``, replaced with ``overwrite``, and otherwise refused; ``resume`` into a
  directory that does not exist is an error. Nothing is written until the whole start has
  succeeded, and a failed start removes what it made (the lock file, a folder it created).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

from jarvl.errors import RunAborted

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, the policy still applies
    fcntl = None

LOCK_FILE = ".lock"
# What a training writes; their presence makes a directory "an existing run". Anything else in the
# folder (the user's notes, a dataset) is neither a run nor ever deleted.
RUN_FILES = ("config.json", "tokenizer.json", "metrics.jsonl", "summary.json", "checkpoints", "tb", "mixture_weights.png")


class RunDirBusy(RunAborted):
    """Another process is training into the same run directory."""


class RunDirError(ValueError):
    """The run directory does not fit what was asked (exists without --resume, missing with it)."""


def existing_run_files(run_dir: Path) -> list[str]:
    """The names of ``RUN_FILES`` present in ``run_dir`` (empty: not a run yet)."""
    return [name for name in RUN_FILES if (Path(run_dir) / name).exists()]


def lock_holder(run_dir: Path) -> str:
    """What the lock file says about its holder (``PID 1234 on host``), or ``""``."""
    try:
        return (Path(run_dir) / LOCK_FILE).read_text().strip()
    except OSError:
        return ""


class RunDir:
    """Claim ``run_dir`` for one training: lock it, apply the resume/overwrite policy, clean up a failed start.

    Use: ``claim()`` before reading any data, ``commit()`` once the model is built and just before
    the first file is written, ``release()`` at the end (``abandon()`` instead when the start failed).
    """

    def __init__(self, run_dir: str | os.PathLike, *, resume: bool = False, overwrite: bool = False) -> None:
        self._fd: int | None = None
        if resume and overwrite:
            raise RunDirError("--resume and --overwrite contradict each other: choose one")
        self.path, self.resume, self.overwrite = Path(run_dir), resume, overwrite
        self._created: list[Path] = []  # folders this claim made (removed again by abandon)
        self._lock_created = False

    def claim(self) -> None:
        """Take the lock and check the policy; writes only the lock file (and the folder, if new).

        Raises:
            RunDirBusy: another process holds the lock (the message names its PID).
            RunDirError: ``resume`` into a missing directory, or an existing run without
                ``resume`` or ``overwrite``.
        """
        if self.resume and not self.path.is_dir():
            raise RunDirError(f"--resume: {self.path} does not exist (nothing to resume; drop --resume to start a new run)")
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"--out {self.path}: exists and is not a directory")
        self._make_dirs()
        self._lock()
        try:
            found = existing_run_files(self.path)
            if found and not (self.resume or self.overwrite):
                raise RunDirError(
                    f"{self.path} already holds a run ({', '.join(found)}): pass --resume to continue it, "
                    f"--overwrite to replace it, or choose another --out"
                )
            # Only now is the lock file written: a refused claim leaves it as it was.
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"PID {os.getpid()} on {socket.gethostname()}\n".encode())
        except BaseException:
            self.abandon()
            raise

    def _make_dirs(self) -> None:
        missing = []
        p = self.path.absolute()
        while not p.exists():
            missing.append(p)
            p = p.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except OSError as err:
                self.abandon()
                raise RunDirError(f"--out {self.path}: cannot create {folder}: {err.strerror}") from None
            self._created.append(folder)

    def _lock(self) -> None:
        path = self.path / LOCK_FILE
        self._lock_created = not path.exists()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            self.abandon()
            raise RunDirError(f"--out {self.path}: cannot write there ({err.strerror})") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._lock_created = False  # the holder's file: never ours to remove
                holder = lock_holder(self.path) or "another process"
                self.abandon()
                raise RunDirBusy(
                    f"{self.path} is in use by another training ({holder}); wait for it to end or choose another --out"
                ) from None
        self._fd = fd

    def commit(self, *, fresh: bool) -> None:
        """The start succeeded: from here on the directory is this run's. ``fresh``: remove an old
        run's files first (``overwrite``, or a ``resume`` that found no checkpoint to continue)."""
        self._created = []
        self._lock_created = False
        if fresh:
            for name in existing_run_files(self.path):
                target = self.path / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()

    def release(self) -> None:
        """Drop the lock (the file stays: removing it could let two later runs lock two different files)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __del__(self) -> None:
        self.release()  # a claim dropped without release (a Trainer never fitted) frees the directory

    def abandon(self) -> None:
        """A failed start: release the lock and remove the lock file and the folders this claim created."""
        if self._lock_created:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
        self.release()
        for folder in reversed(self._created):
            try:
                folder.rmdir()  # only if still empty: never remove anything else
            except OSError:
                break
        self._created = []


def notice(message: str) -> None:
    """A one-line note on stderr: the run goes on, but the user should know."""
    print(f"jarvl: note: {message}", file=sys.stderr)
