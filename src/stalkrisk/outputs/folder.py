"""A results folder appears whole or not at all, and never replaces another run unasked.

A run builds everything in a private sibling (``.NAME.stalkrisk-building-*``, mode 0700,
so its case data has the same protection as the results) and renames it onto ``NAME`` at
the end. So a killed run leaves nothing that looks complete, ``--review none`` cannot
inherit an old run's pages, and nothing is ever written through a symlink inside the
folder. A lock beside the folder (``.NAME.stalkrisk-lock``, held with ``flock`` so a
killed run releases it) makes a second run into the same folder refuse at once. Under
the lock, what a killed run left (its building folder; the ``.stalkrisk-parts-*`` spill
and ``.partial`` files of older versions, which wrote in place) is removed first.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from stalkrisk.errors import OutputFolderError
from stalkrisk.outputs.schema import AUDIT_FILE, OPTIONAL_TABLE_FILES, REVIEW_DIR, TABLE_FILES

BUILDING = "stalkrisk-building-"
REPLACED = "stalkrisk-replaced-"
LOCK = "stalkrisk-lock"
#: What an interrupted run of an older version left inside the folder itself.
LEFTOVERS = (".stalkrisk-parts-*", ".stalkrisk-spark-*", ".*.partial")
#: A folder holding any of these holds a run (finished or not).
RUN_MARKS = (AUDIT_FILE, *TABLE_FILES, *OPTIONAL_TABLE_FILES, REVIEW_DIR)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def held_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, or refuse at once naming ``what``.

    The file is removed on the way out; a run that opened it just before would then hold
    a lock on a removed file, so the inode is checked again after locking.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise OutputFolderError(f"{path.parent}: cannot create the lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OutputFolderError(f"{what}: another stalkrisk run is writing to it now; "
                                        "wait for it to finish or choose another --out") from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def holds_run(folder: Path) -> bool:
    return any((folder / name).exists() or (folder / name).is_symlink() for name in RUN_MARKS)


def sweep(folder: Path) -> list[Path]:
    """Remove what a killed run left for ``folder`` (call under its lock); returns what went."""
    gone: list[Path] = []
    parent = folder.parent
    for prefix in (BUILDING, REPLACED):
        gone += sorted(parent.glob(f".{folder.name}.{prefix}*"))
    if folder.is_dir() and not folder.is_symlink():
        for pattern in LEFTOVERS:
            gone += sorted(folder.glob(pattern))
    for path in gone:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return gone


def check_target(out: Path, overwrite: bool, *, lock_free: bool = True) -> None:
    """Refuse a target that is not ours to replace: a file, a symlink, another run, other files,
    a folder another run is writing to now (checked before a model loads, so refused at once)."""
    if lock_free and _locked(out.parent / f".{out.name}.{LOCK}"):
        raise OutputFolderError(f"{out}: another stalkrisk run is writing to it now; "
                                "wait for it to finish or choose another --out")
    if out.is_symlink():
        raise OutputFolderError(f"{out}: is a symbolic link; give the real folder as --out")
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out}: is a file, not a folder; give a folder as --out")
    if not out.is_dir():
        return
    if not [p for p in out.iterdir() if not any(fnmatch.fnmatch(p.name, pat) for pat in LEFTOVERS)]:
        return  # empty, or only what a killed run left (swept under the lock)
    if not holds_run(out):
        raise OutputFolderError(f"{out}: is not empty and holds no stalkrisk run; "
                                "choose a new or empty folder as --out")
    if not overwrite:
        raise OutputFolderError(f"{out}: holds another scoring run; pass --overwrite to replace it "
                                "(the whole folder), or choose another --out")


@contextmanager
def building(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a private, empty folder to build the run in; on success it replaces ``out`` whole.

    On failure (or a kill) the building folder is removed (or swept by the next run) and
    ``out`` is untouched.
    """
    out = Path(os.path.abspath(out))
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(f"{parent}: cannot create the folder for --out ({exc.strerror})") from None
    if not parent.is_dir():
        raise OutputFolderError(f"{parent}: is not a folder; --out must be inside a folder")
    check_target(out, overwrite)
    with held_lock(parent / f".{out.name}.{LOCK}", str(out)):
        sweep(out)
        check_target(out, overwrite, lock_free=False)  # again, now that no other run can change it
        try:
            work = Path(tempfile.mkdtemp(prefix=f".{out.name}.{BUILDING}", dir=parent))
        except OSError as exc:
            raise OutputFolderError(f"{parent}: cannot write here ({exc.strerror}); choose a writable --out") from None
        try:
            yield work
            os.chmod(work, 0o777 & ~_umask())
            install(work, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def install(work: Path, out: Path) -> None:
    """Rename ``work`` onto ``out``; a previous ``out`` is renamed aside first, then removed."""
    aside = None
    if out.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.{REPLACED}", dir=out.parent))
        os.replace(out, aside / "old")
    os.replace(work, out)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)  # never follows a symlink: links are removed, not entered


@contextmanager
def private_folder(beside: Path, tag: str) -> Iterator[Path]:
    """A private folder beside ``beside`` for temporary case data (``audit verify``'s re-run).

    Not the system temp folder: a killed process would leave case data there for anyone with
    access to it. Leftovers of killed runs (those whose lock is free) are removed first.
    """
    beside = Path(os.path.abspath(beside))
    prefix = f".{beside.name}.{tag}-"
    for old in sorted(beside.parent.glob(prefix + "*")):
        if old.is_dir() and not old.is_symlink() and not _locked(old / ".lock"):
            shutil.rmtree(old, ignore_errors=True)
    try:
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=beside.parent))
    except OSError as exc:
        raise OutputFolderError(f"{beside.parent}: cannot write a private working folder here "
                                f"({exc.strerror}); pass --keep DIR to put the re-run elsewhere") from None
    try:
        with held_lock(work / ".lock", str(work)):
            yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)
