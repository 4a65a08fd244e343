"""The journal's key file: created once, 0600, and never read half-written."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from certmgr.deploy.journal import KeyFileCipher


def test_first_use_from_many_threads_and_ciphers_agrees_on_one_key(tmp_path: Path) -> None:
    key_file = tmp_path / "home" / "journal.key"
    ciphers = [KeyFileCipher(key_file) for _ in range(4)]  # as separate processes would
    shared = KeyFileCipher(key_file)  # as parallel deploys of one process do
    sealed: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def seal(cipher: KeyFileCipher) -> None:
        start.wait()
        try:
            sealed.append(cipher.encrypt(b"old key bytes"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=seal, args=(c,)) for c in ciphers + [shared] * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reader = KeyFileCipher(key_file)
    assert {reader.decrypt(s) for s in sealed} == {b"old key bytes"}
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["journal.key"]
