"""SIGKILL a deploying process at every named checkpoint and at random ones.

Each run forks a child that recovers what an earlier run left, then deploys into
a small ``--root`` tree (a new directory, a new key, a replaced certificate, a
replaced key with a new mode, a config edit, reload and verify steps) and, in
rollback mode, fails after verify and rolls back. The child dies by SIGKILL at
the chosen checkpoint. Afterwards every target file must be whole (old or new
bytes) with the mode that goes with those bytes, and the next run must recover
to exactly the old state. The test reports which checkpoints the kills hit.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from certmgr.deploy.checkpoints import CHECKPOINTS, add_hook, checkpoint
from certmgr.deploy.fsops import FileTransaction, recover_pending
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.hosts.local import LocalHost
from certmgr.models import FileSpec
from certmgr.testing.faults import kill_hook
from tests.deploy.conftest import OLD_CERT, OLD_CONF, OLD_KEY, make_tree

NEW_CERT = b"-----BEGIN CERTIFICATE-----\nNEW" + b"C" * 3000 + b"\n-----END CERTIFICATE-----\n"
NEW_KEY = b"-----BEGIN PRIVATE KEY-----\nNEW" + b"K" * 1700 + b"\n-----END PRIVATE KEY-----\n"
NEW_CONF = OLD_CONF.replace(b"/etc/ssl/certs/old.pem", b"/etc/prog/ssl/certs/new.crt")

# path -> (old bytes or None, old mode, new bytes, new mode)
TARGETS: dict[str, tuple[bytes | None, int, bytes, int]] = {
    "etc/prog/ssl/private/new.key": (None, 0, NEW_KEY, 0o600),
    "etc/ssl/certs/old.pem": (OLD_CERT, 0o644, NEW_CERT, 0o644),
    "etc/ssl/private/old.key": (OLD_KEY, 0o600, NEW_KEY, 0o640),
    "etc/prog/prog.conf": (OLD_CONF, 0o644, NEW_CONF, 0o644),
}


class VerifyFailed(Exception):
    pass


def deploy(tree: Path, home: Path, *, fail_verify: bool) -> None:
    host = LocalHost(root=tree)
    store, cipher = FileJournalStore(home / "journal"), KeyFileCipher(home / "journal.key")
    recover_pending(store, cipher, lambda name: host)
    try:
        with FileTransaction(host, store, cipher, label="crash") as txn:
            txn.ensure_dir(FileSpec("/etc/prog/ssl/private", "svc", "svc", 0o700))
            for rel, (_old, _om, new, mode) in TARGETS.items():
                txn.write(FileSpec("/" + rel, "svc", "svc", mode), new,
                          secret=rel.endswith(".key"), config_edit=rel.endswith(".conf"))
            checkpoint("reload")
            checkpoint("verify")
            if fail_verify:
                raise VerifyFailed
    except VerifyFailed:
        checkpoint("rollback-reload")
        checkpoint("rollback-verify")


def in_child(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child; return its wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            body()
        except BaseException:  # noqa: BLE001 - the child must never return into pytest
            code = 3
        os._exit(code)
    return os.waitpid(pid, 0)[1]


def assert_whole(tree: Path) -> None:
    for rel, (old, old_mode, new, new_mode) in TARGETS.items():
        path = tree / rel
        if not path.exists():
            assert old is None, f"{rel} vanished"
            continue
        got = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
        assert got in ((old, old_mode), (new, new_mode)), f"{rel}: partial or wrong mode"
    for temp in tree.rglob(".*.tmp"):
        target = str(temp.relative_to(tree).parent / temp.name.split(".certmgr-")[0][1:])
        assert stat.S_IMODE(temp.stat().st_mode) <= TARGETS[target][3], f"{temp} too open"


def assert_old(tree: Path) -> None:
    for rel, (old, old_mode, _new, _nm) in TARGETS.items():
        path = tree / rel
        if old is None:
            assert not path.exists(), rel
        else:
            assert (path.read_bytes(), stat.S_IMODE(path.stat().st_mode)) == (old, old_mode)
    assert not list(tree.rglob("*.tmp"))
    assert not (tree / "etc/prog/ssl").exists()


def sequence(tmp_path: Path, fail_verify: bool) -> list[str]:
    """The checkpoints one undisturbed run reaches, in order."""
    tree, home = tmp_path / f"probe-tree-{fail_verify}", tmp_path / f"probe-home-{fail_verify}"
    tree.mkdir(exist_ok=True)
    if (tree / "etc").exists():
        return _SEQUENCES[fail_verify]
    make_tree(tree)
    seen: list[str] = []
    remove = add_hook(seen.append)
    try:
        deploy(tree, home, fail_verify=fail_verify)
    finally:
        remove()
    _SEQUENCES[fail_verify] = seen
    return seen


_SEQUENCES: dict[bool, list[str]] = {}


def test_sigkill_at_every_checkpoint_and_random_points(
        tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    plans: list[tuple[bool, int]] = []  # (fail_verify, kill at the K-th checkpoint)
    for fail_verify in (False, True):
        plans += [(fail_verify, k) for k in range(1, len(sequence(tmp_path, fail_verify)) + 1)]
    rng = random.Random(20261127)
    plans += [(fv, rng.randint(1, n)) for fv, n in
              [(fv, len(sequence(tmp_path, fv))) for fv in (rng.random() < 0.5
                                                             for _ in range(20))]]
    assert len(plans) >= 50
    hit: Counter[str] = Counter()
    for run, (fail_verify, k) in enumerate(plans):
        tree, home, log = tmp_path / f"t{run}", tmp_path / f"h{run}", tmp_path / f"l{run}"
        tree.mkdir()
        make_tree(tree)

        def killed(fv: bool = fail_verify, k: int = k, tree: Path = tree, home: Path = home,
                   log: Path = log) -> None:
            add_hook(kill_hook(None, after=k, log=str(log)))
            deploy(tree, home, fail_verify=fv)

        status = in_child(killed)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (run, k)
        hit[log.read_text().split()[-1]] += 1
        assert_whole(tree)

        def recover_only(tree: Path = tree, home: Path = home) -> None:
            host = LocalHost(root=tree)
            outcomes = recover_pending(FileJournalStore(home / "journal"),
                                       KeyFileCipher(home / "journal.key"), lambda n: host)
            if not all(o.ok for o in outcomes):
                raise SystemExit(1)

        assert in_child(recover_only) == 0
        assert_old(tree)
        if run % 7 == 0:  # the next full run recovers and deploys to the end
            assert in_child(functools.partial(deploy, tree, home, fail_verify=False)) == 0
            for rel, (_o, _om, new, mode) in TARGETS.items():
                assert ((tree / rel).read_bytes(),
                        stat.S_IMODE((tree / rel).stat().st_mode)) == (new, mode)
    record_property("checkpoints_hit", dict(sorted(hit.items())))
    print(f"\ncrash runs: {len(plans)}; SIGKILL hits per checkpoint: {dict(sorted(hit.items()))}")
    assert set(CHECKPOINTS) <= set(hit), f"never killed at {set(CHECKPOINTS) - set(hit)}"


@pytest.mark.parametrize("name", ["rename", "dir-fsync"])
def test_kill_by_name_through_the_environment(tmp_path: Path, name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from certmgr.testing import faults

    monkeypatch.setenv(faults.ENV_AT, f"{name}#2")
    tree, home = tmp_path / "t", tmp_path / "h"
    tree.mkdir()
    make_tree(tree)

    def body() -> None:
        assert faults.install_from_env()
        deploy(tree, home, fail_verify=False)

    status = in_child(body)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert_whole(tree)
    assert FileJournalStore(home / "journal").pending()


# -- a swap-to-symlink attacker at each read ------------------------------------------------

SECRET = b"root:$6$the-shadow-file-nobody-may-copy$\n"
EXISTING = [rel for rel, (old, *_rest) in TARGETS.items() if old is not None]


def _reads() -> list[tuple[str, int, str]]:
    """(checkpoint, n-th time, target read then): each read of a deploy and of its rollback."""
    out = [("read-old", n, rel) for n, rel in enumerate(EXISTING, 1)]
    out += [("rollback-read", n, rel) for n, rel in enumerate(reversed(EXISTING), 1)]
    return out


def _copies(tree: Path, home: Path) -> list[Path]:
    """Every regular file except the secret itself that holds the secret's bytes (plain or
    base64, as an unencrypted journal entry would)."""
    import base64

    marks = (SECRET, base64.b64encode(SECRET))
    found = []
    for base in (tree, home):
        for path in base.rglob("*"):
            if path.is_symlink() or not path.is_file() or path == tree / "etc/shadow":
                continue
            data = path.read_bytes()
            if any(m in data for m in marks):
                found.append(path)
    return found


@pytest.mark.parametrize(("at", "nth", "rel"), _reads(), ids=lambda v: str(v))
def test_a_link_swapped_in_at_each_read_is_never_read(tmp_path: Path, at: str, nth: int,
                                                      rel: str) -> None:
    tree, home = tmp_path / "t", tmp_path / "h"
    tree.mkdir()
    make_tree(tree)
    (tree / "etc/shadow").write_bytes(SECRET)
    (tree / "etc/shadow").chmod(0o600)
    seen = Counter[str]()

    def attacker(name: str) -> None:
        seen[name] += 1
        if name == at and seen[name] == nth:
            (tree / rel).unlink()
            (tree / rel).symlink_to("/etc/shadow")

    remove = add_hook(attacker)
    try:
        with pytest.raises(Exception) as raised:
            deploy(tree, home, fail_verify=True)
    finally:
        remove()
    assert seen[at] >= nth, f"the deployment never reached {at} #{nth}"
    assert "symbolic link" in str(raised.value)
    assert (tree / "etc/shadow").read_bytes() == SECRET
    assert stat.S_IMODE((tree / "etc/shadow").stat().st_mode) == 0o600
    assert _copies(tree, home) == []
