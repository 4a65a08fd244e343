"""Issue as a batch, list, export and apply: real repository, real built-in CA."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from certmgr.app.certificates import export, issue, list_certificates, request
from certmgr.app.context import Context
from certmgr.app.definitions import apply, define
from certmgr.errors import InputError, NotFound
from certmgr.issuers import RenewalState, init_builtin_ca, make_definition
from certmgr.repository import Repository


def test_one_failing_definition_never_stops_the_others(repo: Repository) -> None:
    init_builtin_ca(repo)
    for name, issuer in (("a.example.com", "builtin"), ("b.example.com", "nosuch"),
                         ("c.example.com", "builtin")):
        repo.save_definition(make_definition(name, name, issuer=issuer))
    seen: list[str | None] = []
    batch = issue(repo, None, on_start=lambda n: seen.append(str(n)), on_item=seen.append)
    assert [(i.item, i.status, i.ok) for i in batch] == [
        ("a.example.com", "issued", True), ("b.example.com", "failed", False),
        ("c.example.com", "issued", True)]
    assert "nosuch" in batch.failed[0].reason
    assert batch.items[0].detail["version"] == 1 and batch.items[0].detail["serial"]
    assert seen[0] == "3" and seen.count(None) == 3
    # A batch of one raises its error (the face's exit code says what kind it was) ...
    with pytest.raises(NotFound, match="nosuch"):
        issue(repo, ["b.example.com"])
    # ... unless asked for the result, and an unknown name is refused before any issuing.
    (only,) = issue(repo, ["b.example.com"], raise_single=False)
    assert only.status == "failed"
    with pytest.raises(NotFound):
        issue(repo, ["a.example.com", "nope.example.com"])
    assert repo.current_certificate("a.example.com").version == 1  # type: ignore[union-attr]


def test_list_pending_request_and_export(repo: Repository, ctx: Context,
                                         tmp_path: Path) -> None:
    init_builtin_ca(repo)
    define(ctx, "www.example.com", "www.example.com", [], key="ec256",
           validity=make_definition("x", "x").validity,
           renew_before=make_definition("x", "x").renew_before, issuer="builtin", targets=[])
    repo.save_definition(make_definition("ext.example.com", "ext.example.com",
                                         issuer="external"))
    issue(repo, ["www.example.com"])
    pending = request(repo, "ext.example.com", tmp_path / "ext.csr")
    assert pending.csr.read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST")
    with pytest.raises(InputError, match="is a directory"):
        request(repo, "ext.example.com", tmp_path)
    rows = {r.name: r for r in list_certificates(repo)}
    assert rows["www.example.com"].state is RenewalState.VALID
    assert rows["ext.example.com"].state is RenewalState.PENDING
    assert rows["ext.example.com"].to_json()["status"] == "pending"
    out = export(repo, "www.example.com", "pem", tmp_path / "out")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p, _mode in out.files}
    assert modes == {p.name: m for p, m in out.files}
    assert 0o600 in modes.values() and stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700


def test_apply_returns_one_result_per_definition_and_warnings(repo: Repository) -> None:
    text = """
[definitions."www.example.com"]
targets = ["local/apache2:www"]

[definitions."mail.example.com"]
"""
    batch, warnings = apply(repo, text, "defs.toml")
    assert [(i.item, i.status) for i in batch] == [("www.example.com", "created"),
                                                   ("mail.example.com", "created")]
    assert any("issuer builtin does not exist" in w for w in warnings)
    assert any("local/apache2:www is not a discovered slot" in w for w in warnings)
    again, _ = apply(repo, text, "defs.toml")
    assert {i.status for i in again} == {"unchanged"}
    assert again.to_json()[0] == {"item": "www.example.com", "status": "unchanged",
                                  "ok": True, "reason": "", "name": "www.example.com"}
