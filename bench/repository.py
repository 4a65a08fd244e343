"""Repository speed: listing expiring certificates, backup and restore, over 100,000 rows.

In one run, on a fresh SQLite repository in a temporary home:

* ``Repository.list_certificates(expiring_within=30 days)`` over N current
  certificates of which W fall inside the window, against the peer floor: the
  same query with the bare ``sqlite3`` module returning raw tuples (what any
  hand-written tool would do at best). Reported as a ratio.
* ``write_backup`` (consistent snapshot, checksummed, gzip JSON lines) against
  ``sqlite3.Connection.backup`` (a page copy, the fastest consistent copy
  SQLite offers, but SQLite-only and unversioned). Reported as a ratio.
* ``restore_backup`` of that file into a new home: seconds and rows per second.
* Definitions: ``get_definitions`` of the W names in the window (one IN query
  per 500 names) against one ``get_definition`` per name, and
  ``list_definitions`` over all N.
* ``add_certificate`` (key encrypted and stored, certificate stored, audit
  events, one commit each) for C certificates, against the floor: bare
  ``sqlite3`` inserting the same rows (key, certificate, two audit events)
  with one commit each, in WAL mode with ``synchronous=NORMAL`` as certmgr
  uses. Wall and CPU seconds; the ratio is by CPU (the machine is shared).

Rows are bulk-inserted with SQL; they share one real certificate PEM with
per-row serials, fingerprints and expiry times. Writes
bench/results/repository.json. Run: ``.venv/bin/python -m bench.repository
[--rows N] [--window N] [--certs C]``. The temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench._fill import bulk_insert
from certmgr.repository import open_repository
from certmgr.repository.backup import restore_backup, write_backup

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "repository.json"
REPEAT = 3


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.example.org")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=90)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fill(home: Path, rows: int, window: int) -> float:
    """N definitions with one current certificate each; W expire within 30 days."""
    pem, now = _pem(), dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    with open_repository(None, home) as repo:
        defs = [
            {"name": f"d{i}", "cn": f"h{i}.example.org", "sans": [f"h{i}.example.org"],
             "key_type": "ec256", "validity_seconds": 90 * 86400, "issuer": "ca",
             "renew_before_seconds": 30 * 86400, "targets": [], "data": {}, "created": now,
             "updated": now} for i in range(rows)]
        step = max(1, rows // window)
        certs = [
            {"definition_id": i + 1, "version": 1, "serial": f"{i + 1:x}", "sha256": f"{i:064x}",
             "subject": f"CN=h{i}.example.org", "sans": [f"h{i}.example.org"],
             "not_before": now,
             "not_after": now + dt.timedelta(days=1 + (i % 29) if i % step == 0 and i // step <
                                             window else 60 + i % 300),
             "issuer": "CN=ca", "cert_pem": pem, "chain_pem": "", "key_id": None,
             "state": "current", "created": now} for i in range(rows)]
        bulk_insert(repo, [("definitions", defs), ("certificates", certs)])
    return time.perf_counter() - start


def _best(fn: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_list(home: Path) -> dict[str, Any]:
    limit = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with open_repository(None, home) as repo:
        ours, listed = _best(lambda: repo.list_certificates(
            expiring_within=dt.timedelta(days=30)))
    conn = sqlite3.connect(home / "certmgr.db")
    query = ("SELECT c.*, d.name FROM certificates c JOIN definitions d ON d.id = c.definition_id"
             " WHERE c.state = 'current' AND c.not_after <= ? ORDER BY c.not_after, c.id")
    bound = limit.strftime("%Y-%m-%d %H:%M:%S.%f")
    peer, raw = _best(lambda: conn.execute(query, (bound,)).fetchall())
    conn.close()
    assert len(raw) == len(listed), (len(raw), len(listed))
    return {"listed": len(listed), "certmgr_seconds": round(ours, 4),
            "bare_sqlite3_seconds": round(peer, 4),
            "ratio_certmgr_over_bare": round(ours / peer, 2)}


def bench_backup(home: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / "repo.backup"
    with open_repository(None, home) as repo:
        start = time.perf_counter()
        summary = write_backup(repo, out)
        ours = time.perf_counter() - start
    src = sqlite3.connect(home / "certmgr.db")
    dst = sqlite3.connect(tmp / "copy.db")
    start = time.perf_counter()
    src.backup(dst)
    peer = time.perf_counter() - start
    src.close()
    dst.close()
    start = time.perf_counter()
    restore_backup(None, tmp / "restored", out, master_key_file=home / "master.key")
    restore = time.perf_counter() - start
    rows = sum(summary.rows.values())
    return {"rows": rows, "backup_bytes": out.stat().st_size,
            "database_bytes": (home / "certmgr.db").stat().st_size,
            "certmgr_backup_seconds": round(ours, 3),
            "sqlite3_page_backup_seconds": round(peer, 3),
            "ratio_certmgr_over_page_copy": round(ours / peer, 2),
            "restore_seconds": round(restore, 3),
            "restore_rows_per_second": round(rows / restore)}


def bench_definitions(home: Path, window: int) -> dict[str, Any]:
    with open_repository(None, home) as repo:
        names = [c.definition for c in repo.list_certificates(
            expiring_within=dt.timedelta(days=30))][:window]
        bulk, found = _best(lambda: repo.get_definitions(names))
        one_by_one, _ = _best(lambda: [repo.get_definition(n) for n in names])
        listing, every = _best(repo.list_definitions)
    assert len(found) == len(names)
    return {"names": len(names), "get_definitions_seconds": round(bulk, 4),
            "get_definition_each_seconds": round(one_by_one, 4),
            "ratio_each_over_bulk": round(one_by_one / bulk, 1),
            "list_definitions": len(every), "list_definitions_seconds": round(listing, 3)}


def _certificates(n: int) -> list[tuple[str, Any]]:
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    now = dt.datetime.now(dt.UTC)
    made = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"c{i}.example.org"
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(issuer).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + dt.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
                .sign(issuer_key, hashes.SHA256()))
        made.append((cert.public_bytes(serialization.Encoding.PEM).decode(), key))
    return made


def bench_add_certificate(tmp: Path, n: int) -> dict[str, Any]:
    from certmgr.repository import DefinitionRecord

    made = _certificates(n)
    result: dict[str, Any] = {"certificates": n}
    for label, home in (("certmgr", tmp / "add"),):
        with open_repository(None, home) as repo:
            for i in range(n):
                repo.save_definition(DefinitionRecord(name=f"c{i}", cn=f"c{i}.example.org"))
        with open_repository(None, home) as repo:
            cpu, start = time.process_time(), time.perf_counter()
            for i, (pem, key) in enumerate(made):
                repo.add_certificate(f"c{i}", pem, chain_pem=pem, key=key, issuer="builtin")
            ours, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
        result.update({f"{label}_seconds": round(ours, 3),
                       f"{label}_cpu_seconds": round(ours_cpu, 3),
                       f"{label}_cpu_ms_per_certificate": round(1000 * ours_cpu / n, 3)})
    peer, peer_cpu = _bare_inserts(tmp / "bare.db", made)
    return {**result, "bare_sqlite3_seconds": round(peer, 3),
            "bare_sqlite3_cpu_seconds": round(peer_cpu, 3),
            "ratio_certmgr_over_bare_by_cpu": round(result["certmgr_cpu_seconds"] / peer_cpu, 1)}


def _bare_inserts(path: Path, made: list[tuple[str, Any]]) -> tuple[float, float]:
    """The same rows with bare sqlite3: the key still encrypted and described, as certmgr
    must; one commit per certificate."""
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(
        "CREATE TABLE keys (id TEXT PRIMARY KEY, algorithm TEXT, public_sha256 TEXT, "
        "ciphertext BLOB, created TEXT);"
        "CREATE TABLE certs (id INTEGER PRIMARY KEY, definition TEXT, version INTEGER, "
        "serial TEXT, sha256 TEXT UNIQUE, cert_pem TEXT, chain_pem TEXT, key_id TEXT, "
        "state TEXT, not_after TEXT, created TEXT);"
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, time TEXT, action TEXT, object TEXT, "
        "detail TEXT);")
    aead = AESGCM(AESGCM.generate_key(256))
    cpu, start = time.process_time(), time.perf_counter()
    for i, (pem, key) in enumerate(made):
        now = dt.datetime.now(dt.UTC).isoformat()
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        ref, nonce = uuid.uuid4().hex, os.urandom(12)
        cert = x509.load_pem_x509_certificate(pem.encode())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?)",
                     (ref, "ec", hashlib.sha256(spki).hexdigest(),
                      nonce + aead.encrypt(nonce, der, ref.encode()), now))
        conn.execute("INSERT INTO audit (time, action, object, detail) VALUES (?, ?, ?, ?)",
                     (now, "key.store", ref, "{}"))
        conn.execute("UPDATE certs SET state = 'superseded' WHERE definition = ?", (f"c{i}",))
        conn.execute("INSERT INTO certs (definition, version, serial, sha256, cert_pem, "
                     "chain_pem, key_id, state, not_after, created) "
                     "VALUES (?, 1, ?, ?, ?, ?, ?, 'current', ?, ?)",
                     (f"c{i}", f"{cert.serial_number:x}", hashlib.sha256(
                         cert.public_bytes(serialization.Encoding.DER)).hexdigest(), pem, pem,
                      ref, cert.not_valid_after_utc.isoformat(), now))
        conn.execute("INSERT INTO audit (time, action, object, detail) VALUES (?, ?, ?, ?)",
                     (now, "certificate.add", f"c{i}", "{}"))
        conn.execute("COMMIT")
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return elapsed, used


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.repository")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--certs", type=int, default=500)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="certmgr-bench-repo-"))
    try:
        home = tmp / "home"
        fill_seconds = fill(home, args.rows, args.window)
        result = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "load_1min": round(os.getloadavg()[0], 2),
                  "rows": args.rows, "window": args.window,
                  "fill_seconds": round(fill_seconds, 2),
                  "list_expiring_30d": bench_list(home),
                  "definitions": bench_definitions(home, args.window),
                  "add_certificate": bench_add_certificate(tmp, args.certs),
                  "backup_restore": bench_backup(home, tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
