"""One credential on two listeners used to be two slots (``ID:PORT``, ``ID:PORT~2``):
``certmgr discover`` now reports one, and what was stored under the old ids follows it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from certmgr.repository import DefinitionRecord, open_repository
from tests.conftest import run_cli
from tests.repository.conftest import make_cert
from tests.services.treehelp import make_tree

PEM = "/etc/haproxy/certs/web.pem"
CFG = (f"frontend web\n  bind :443 ssl crt {PEM}\n  bind :::443 v6only ssl crt {PEM}\n"
       "frontend other\n  bind :8443 ssl crt /etc/haproxy/certs/other.pem\n")


def _old_slot(slot_id: str, address: str, port: int, cert: str) -> dict[str, object]:
    """A slot as discovery reported (and the repository stored) it before."""
    return {"id": slot_id, "config": "/etc/haproxy/haproxy.cfg", "names": ["h.example.net"],
            "endpoints": [{"address": address, "port": port, "tls": "direct", "sni": None}],
            "cert": cert, "key": cert, "chain": None, "ca": None, "keystore": None,
            "keystore_type": None}


def test_targets_and_history_follow_the_merged_slot(tmp_path: Path, home: Path,
                                                    cli: CliRunner) -> None:
    tree = tmp_path / "tree"
    make_tree(tree, {"/etc/haproxy/haproxy.cfg": CFG})
    repo = open_repository(None, home)
    try:
        repo.save_discovery("local", [{
            "kind": "haproxy", "config": "/etc/haproxy/haproxy.cfg", "user": "root",
            "slots": [_old_slot("haproxy:web:443", "*", 443, PEM),
                      _old_slot("haproxy:web:443~2", "*", 443, PEM),
                      _old_slot("haproxy:other", "*", 8443, "/etc/haproxy/certs/other.pem")]}])
        repo.save_definition(DefinitionRecord(
            name="www", cn="www.example.org", sans=("www.example.org",),
            targets=("haproxy:web:443~2", "local/haproxy:web:443", "haproxy:other",
                     "web2/haproxy:web:443~2")))
        pem, key = make_cert()
        repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
        deployed = repo.create_deployment("www", 1, "haproxy:web:443~2")
    finally:
        repo.close()

    code, _out, err = run_cli(cli, "discover", "--root", str(tree))
    assert code == 0, err
    assert "slot local/haproxy:web:443~2 is now local/haproxy:web (1 deployment(s)" in err

    repo = open_repository(None, home)
    try:
        assert {s.slot_id for s in repo.list_slots("local")} == {"haproxy:web", "haproxy:other"}
        # the bare and the host-qualified old ids are one target now, in their own form;
        # another host's slot of the same name is not this host's
        assert repo.get_definition("www").targets == (
            "haproxy:web", "haproxy:other", "web2/haproxy:web:443~2")
        assert [d.id for d in repo.deployment_history("haproxy:web")] == [deployed.id]
        assert repo.deployment_history("haproxy:web:443~2") == []
    finally:
        repo.close()

    # a second discovery finds nothing more to carry over
    code, _out, err = run_cli(cli, "discover", "--root", str(tree))
    assert code == 0 and "is now" not in err
