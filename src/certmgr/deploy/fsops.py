"""The one module through which certmgr changes files on a host.

A :class:`FileTransaction` changes files and directories of one host and can
undo every change, last in first out. Each change is recorded in the journal
(old bytes, owner, group, mode; secrets encrypted) *before* it is made, then
made atomically by the host (temp file created with the final mode, owner set,
fsync, rename, directory fsync). A symlink anywhere in a target path is
refused. If the process dies, :func:`recover_pending` on the next run finds the
open journal records and rolls them back; on SIGTERM (see
:func:`sigterm_cancels`) every transaction stops at its next checkpoint and rolls
back.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from types import FrameType, TracebackType

from certmgr.deploy.checkpoints import checkpoint, request_cancel
from certmgr.deploy.journal import (
    Cipher,
    JournalEntry,
    JournalRecord,
    JournalState,
    JournalStore,
    decode_old,
    encode_old,
    new_txn_id,
)
from certmgr.errors import CertmgrError, HostError, RollbackFailed
from certmgr.hosts.base import (
    FileStat,
    LinkFreeStat,
    WritableHost,
    normalize,
    prefixes,
    resolve_ids,
    stat_many,
)
from certmgr.models import FileSpec

__all__ = [
    "FileTransaction",
    "RecoveryOutcome",
    "RollbackStep",
    "recover_pending",
    "refuse_symlinks",
    "sigterm_cancels",
    "write_state_file",
]

_DIR_MODE = 0o755


@dataclass(frozen=True)
class RollbackStep:
    """What rollback did to one path: ``restored``, ``removed``, ``unchanged``,
    ``kept`` (a directory not empty) or ``failed`` (``detail`` says why)."""

    path: str
    state: str
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "state": self.state, "detail": self.detail}


def refuse_symlinks(host: WritableHost, path: str) -> FileStat | None:
    """Refuse ``path`` if it or any parent is a symlink; return its lstat (None: missing)."""
    return _parent_and_target(host, path)[1]


def _parent_and_target(host: WritableHost, path: str) -> tuple[bool, FileStat | None]:
    """Whether ``path``'s parent is an existing directory, and ``path``'s lstat (None:
    missing), symlinks anywhere refused."""
    if isinstance(host, LinkFreeStat):
        return host.lstat_link_free(path)
    depth = len(prefixes(path))
    chain = _walk(host, path)
    parent_ok = depth <= 1 or (len(chain) >= depth - 1 and chain[depth - 2].is_dir)
    return parent_ok, (chain[-1] if depth and len(chain) == depth else None)


def _walk(host: WritableHost, path: str) -> list[FileStat]:
    """The lstat of each component of ``path`` from ``/`` down, up to the first missing one.

    Every component is lstat'ed in one round trip where the host can; a symlink
    anywhere above the first missing component is refused (HostError).
    """
    path = normalize(path)
    chain: list[FileStat] = []
    for st in stat_many(host, prefixes(path), follow_symlinks=False):
        if st is None:
            break
        if st.is_symlink:
            raise HostError(f"{st.path} is a symbolic link; certmgr does not write through "
                            f"links (make {path} a real path)", path=path, host=host.name)
        chain.append(st)
    return chain


class FileTransaction:
    """Journaled, atomic, undoable changes to one host's files.

    Use as a context manager: leaving it with an exception rolls back, leaving it
    normally commits. ``secret=True`` marks data whose *old* version is encrypted in
    the journal (private keys, keystores, files holding passwords). ``meta`` (keys
    starting ``meta:``) is kept in the record for whoever recovers it, e.g. how to
    reload the program after the files are restored.
    """

    def __init__(self, host: WritableHost, store: JournalStore, cipher: Cipher, *,
                 label: str = "", record: JournalRecord | None = None,
                 meta: dict[str, str] | None = None) -> None:
        self.host = host
        self.store = store
        self.cipher = cipher
        self.record = record or JournalRecord(txn_id=new_txn_id(), host=host.name, label=label,
                                              detail=dict(meta or {}))
        self._lock = threading.RLock()
        self._saved = record is not None

    @property
    def txn_id(self) -> str:
        return self.record.txn_id

    @property
    def state(self) -> JournalState:
        return self.record.state

    def __enter__(self) -> FileTransaction:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.record.state is not JournalState.OPEN:
            return
        if exc is None:
            self.commit()
        else:
            self.rollback(reason=str(exc) or type(exc).__name__)

    # -- changes ---------------------------------------------------------------

    def _append(self, entry: JournalEntry) -> None:
        self.record = self.record.with_entry(entry)
        self.store.save(self.record)
        self._saved = True
        checkpoint("journal-record")

    def ensure_dir(self, spec: FileSpec) -> None:
        """Make directory ``spec.path`` exist with its owner, group and mode.

        Missing parents are created as :meth:`ensure_parent` does. Each creation, and each change
        of an existing directory's owner or mode, is journaled first.
        """
        with self._lock:
            self._require_open()
            st = refuse_symlinks(self.host, spec.path)
            if st is None:
                parent = posixpath.dirname(normalize(spec.path))
                if parent != "/":
                    self.ensure_parent(parent)
                self._mkdir(spec)
            elif not st.is_dir:
                raise HostError(f"{spec.path} exists and is not a directory", path=spec.path,
                                host=self.host.name)
            else:
                self._fix_attrs(spec, st)

    def ensure_parent(self, path: str) -> None:
        """Make sure directory ``path`` exists; missing ones are created 0755 with the
        owner and group of the directory they are created in."""
        st = refuse_symlinks(self.host, path)
        if st is None:
            parent = posixpath.dirname(normalize(path))
            self.ensure_parent(parent)
            up = self.host.stat(parent, follow_symlinks=False)
            assert up is not None
            self._mkdir(FileSpec(path, str(up.uid), str(up.gid), _DIR_MODE))
        elif not st.is_dir:
            raise HostError(f"{path} exists and is not a directory", path=path,
                            host=self.host.name)

    def _mkdir(self, spec: FileSpec) -> None:
        uid, gid = resolve_ids(self.host, spec.owner, spec.group)
        self._append(JournalEntry(seq=len(self.record.entries), op="mkdir", path=spec.path,
                                  existed=False))
        checkpoint("mkdir")
        self.host.make_dir(spec.path, uid=uid, gid=gid, mode=spec.mode)

    def _fix_attrs(self, spec: FileSpec, st: FileStat) -> None:
        uid, gid = resolve_ids(self.host, spec.owner, spec.group)
        if (st.uid, st.gid, st.mode) == (uid, gid, spec.mode):
            return
        self._append(JournalEntry(seq=len(self.record.entries), op="attrs", path=spec.path,
                                  existed=True, old_uid=st.uid, old_gid=st.gid,
                                  old_mode=st.mode))
        self.host.set_owner_mode(spec.path, uid=uid, gid=gid, mode=spec.mode)

    def write(self, spec: FileSpec, data: bytes, *, secret: bool = False,
              config_edit: bool = False, label: str = "") -> bool:
        """Replace (or create) ``spec.path`` with ``data``, owner, group and mode.

        Returns False when the file already is exactly that (nothing journaled).
        ``config_edit`` marks a program's configuration file (checkpoint
        ``config-edit``).
        """
        with self._lock:
            self._require_open()
            st = self._target_stat(spec.path)
            if st is not None and not st.is_file:
                raise HostError(f"{spec.path} exists and is not a regular file",
                                path=spec.path, host=self.host.name)
            uid, gid = resolve_ids(self.host, spec.owner, spec.group)
            old, st = self._read_old(spec.path, st)
            if st is not None and old == data and (st.uid, st.gid, st.mode) == (
                    uid, gid, spec.mode):
                return False
            seq = len(self.record.entries)
            name = posixpath.basename(spec.path)
            entry = JournalEntry(
                seq=seq, op="write", path=spec.path, existed=st is not None, secret=secret,
                old_data=encode_old(old, secret, self.cipher) if old is not None else None,
                old_uid=st.uid if st else None, old_gid=st.gid if st else None,
                old_mode=st.mode if st else None,
                temp_name=f".{name}.certmgr-{self.txn_id}-{seq}.tmp",
                new_sha256=hashlib.sha256(data).hexdigest(), label=label)
            self._append(entry)
            if config_edit:
                checkpoint("config-edit")
            assert entry.temp_name is not None
            self.host.write_file_atomic(spec.path, data, uid=uid, gid=gid, mode=spec.mode,
                                        temp_name=entry.temp_name, checkpoint=checkpoint)
            return True

    def _read_old(self, path: str, st: FileStat | None) -> tuple[bytes | None, FileStat | None]:
        """The bytes about to be replaced and the status of the file they came from.

        Read with no symlink followed and checked on the open file (fstat): a target
        swapped for a link to some other secret after the lstat is refused, never read
        into the journal (and never restored by a rollback with this file's mode).
        """
        if st is None:
            return None, None
        checkpoint("read-old")
        found = self.host.read_link_free(path)
        return (None, None) if found is None else found

    def _target_stat(self, path: str) -> FileStat | None:
        """The lstat of a file about to be written (None: missing), its parents made sure of.

        One look at the whole path answers both: whether the directory above exists
        (symlinks anywhere refused) and what the file is now.
        """
        parent_ok, st = _parent_and_target(self.host, path)
        if not parent_ok:
            self.ensure_parent(posixpath.dirname(normalize(path)))  # creates, or refuses
            return None
        return st

    def _require_open(self) -> None:
        if self.record.state is not JournalState.OPEN:
            raise CertmgrError(f"file transaction {self.txn_id} is {self.record.state.value}; "
                               "start a new one")

    # -- the end ----------------------------------------------------------------

    def commit(self) -> None:
        """Make the changes final; the old bytes are dropped from the journal."""
        with self._lock:
            self._require_open()
            entries = tuple(replace(e, old_data=None) for e in self.record.entries)
            self.record = replace(self.record, state=JournalState.COMMITTED, entries=entries)
            if self._saved:
                self.store.save(self.record)

    def rollback(self, reason: str = "") -> list[RollbackStep]:
        """Undo every change, last first. Every step is tried even if one fails.

        Raises:
            RollbackFailed: a step failed; the message lists each path's state.
        """
        with self._lock:
            if self.record.state is JournalState.ROLLED_BACK:
                return []
            steps = [self._undo(entry) for entry in reversed(self.record.entries)]
            failed = [s for s in steps if s.state == "failed"]
            detail = {k: v for k, v in self.record.detail.items() if k.startswith("meta:")}
            detail.update({s.path: f"{s.state}: {s.detail}" if s.detail else s.state
                           for s in steps})
            if reason:
                detail["_reason"] = reason
            state = JournalState.ROLLBACK_FAILED if failed else JournalState.ROLLED_BACK
            self.record = replace(self.record, state=state, detail=detail)
            if self._saved:
                self.store.save(self.record)
            if failed:
                lines = "; ".join(f"{s.path}: {s.state} {s.detail}".strip() for s in steps)
                raise RollbackFailed(
                    f"rollback of {self.txn_id} on {self.host.name} failed for "
                    f"{len(failed)} path(s): {lines}. Fix the cause, then rerun certmgr "
                    "to finish the rollback from the journal", path=failed[0].path)
            return steps

    def _undo(self, entry: JournalEntry) -> RollbackStep:
        try:
            checkpoint("rollback-step")
            if entry.op == "mkdir":
                return self._undo_mkdir(entry)
            if entry.op == "attrs":
                return self._undo_attrs(entry)
            return self._undo_write(entry)
        except CertmgrError as exc:
            return RollbackStep(entry.path, "failed", exc.message)
        except OSError as exc:
            return RollbackStep(entry.path, "failed", exc.strerror or str(exc))

    def _undo_mkdir(self, entry: JournalEntry) -> RollbackStep:
        if self.host.stat(entry.path, follow_symlinks=False) is None:
            return RollbackStep(entry.path, "unchanged")
        if self.host.listdir(entry.path):
            return RollbackStep(entry.path, "kept", "directory is not empty")
        self.host.remove_dir(entry.path)
        return RollbackStep(entry.path, "removed")

    def _undo_attrs(self, entry: JournalEntry) -> RollbackStep:
        assert entry.old_uid is not None and entry.old_gid is not None
        assert entry.old_mode is not None
        self.host.set_owner_mode(entry.path, uid=entry.old_uid, gid=entry.old_gid,
                                 mode=entry.old_mode)
        return RollbackStep(entry.path, "restored")

    def _undo_write(self, entry: JournalEntry) -> RollbackStep:
        directory = posixpath.dirname(entry.path)
        rb_temp = f".{posixpath.basename(entry.path)}.certmgr-{self.txn_id}-{entry.seq}.rb.tmp"
        temps = [posixpath.join(directory, t) for t in (entry.temp_name, rb_temp) if t]
        for temp, st in zip(temps, stat_many(self.host, temps, follow_symlinks=False),
                            strict=True):
            if st is not None:
                self.host.remove_file(temp)
        if not entry.existed:
            if self.host.stat(entry.path, follow_symlinks=False) is None:
                return RollbackStep(entry.path, "unchanged")
            self.host.remove_file(entry.path)
            return RollbackStep(entry.path, "removed")
        assert entry.old_data is not None and entry.old_mode is not None
        assert entry.old_uid is not None and entry.old_gid is not None
        old = decode_old(entry.old_data, entry.secret, self.cipher)
        if self._holds(entry, old):
            return RollbackStep(entry.path, "unchanged")
        self.host.write_file_atomic(entry.path, old, uid=entry.old_uid, gid=entry.old_gid,
                                    mode=entry.old_mode, temp_name=rb_temp,
                                    checkpoint=_rollback_checkpoint)
        return RollbackStep(entry.path, "restored")


    def _holds(self, entry: JournalEntry, old: bytes) -> bool:
        """Whether ``entry.path`` is already the old file (bytes, owner, group, mode).

        Read like :meth:`_read_old`: no symlink followed; a link anywhere in the path
        is refused (HostError), as it is before every write.
        """
        if refuse_symlinks(self.host, entry.path) is None:
            return False
        checkpoint("rollback-read")
        found = self.host.read_link_free(entry.path)
        if found is None:
            return False
        data, st = found
        return (st.uid, st.gid, st.mode) == (entry.old_uid, entry.old_gid,
                                             entry.old_mode) and data == old


def _rollback_checkpoint(name: str) -> None:
    # The atomic write of a restore reports its inner steps under the rollback step:
    # a crash inside it is a crash during "rollback-step", recovered the same way.
    del name


@dataclass(frozen=True)
class RecoveryOutcome:
    """What :func:`recover_pending` did with one interrupted transaction."""

    txn_id: str
    host: str
    label: str
    ok: bool
    steps: tuple[RollbackStep, ...]
    error: str = ""


def recover_pending(store: JournalStore, cipher: Cipher,
                    host_for: Callable[[str], WritableHost | None]) -> list[RecoveryOutcome]:
    """Roll back every transaction a killed run left open (or whose rollback failed).

    ``host_for(name)`` returns the host a record names, or None if it cannot be
    reached now (the record stays pending). One failure never stops the others.
    """
    outcomes: list[RecoveryOutcome] = []
    for record in store.pending():
        host = host_for(record.host)
        if host is None:
            outcomes.append(RecoveryOutcome(record.txn_id, record.host, record.label, False, (),
                                            f"host {record.host} is not available"))
            continue
        replay = replace(record, state=JournalState.OPEN)
        txn = FileTransaction(host, store, cipher, record=replay)
        try:
            steps = txn.rollback(reason="recovered after an interrupted run")
        except RollbackFailed as exc:
            outcomes.append(RecoveryOutcome(record.txn_id, record.host, record.label, False,
                                            (), exc.message))
        else:
            outcomes.append(RecoveryOutcome(record.txn_id, record.host, record.label, True,
                                            tuple(steps)))
    return outcomes


@contextlib.contextmanager
def sigterm_cancels() -> Iterator[None]:
    """While active (main thread only), SIGTERM cancels deployments instead of killing.

    Every transaction then stops at its next checkpoint (raising
    ``DeployInterrupted``) and rolls back; the previous handler is restored after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        request_cancel()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_state_file(host: WritableHost, path: str, data: bytes, *, mode: int = 0o644) -> None:
    """Atomically replace one of certmgr's own state files on a host (not journaled).

    For files certmgr keeps up to date and never rolls back, such as the service
    table's recorded pids. Owner and group stay those of the file it replaces.
    """
    st = refuse_symlinks(host, path)
    uid, gid = (st.uid, st.gid) if st is not None else resolve_ids(host, "root", "root")
    name = posixpath.basename(path)
    host.write_file_atomic(path, data, uid=uid, gid=gid, mode=st.mode if st else mode,
                           temp_name=f".{name}.certmgr-state.tmp")
