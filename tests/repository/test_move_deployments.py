"""move_deployments: a renamed slot keeps its deployment history."""

from __future__ import annotations

from certmgr.repository import DefinitionRecord, Repository
from tests.repository.conftest import make_cert


def test_history_follows_the_slot_and_nothing_else_moves(repo: Repository) -> None:
    repo.save_definition(DefinitionRecord(name="www", cn="www.example.org",
                                          sans=("www.example.org",)))
    pem, key = make_cert()
    repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
    first = repo.create_deployment("www", 1, "haproxy:web:443~2")
    repo.create_deployment("www", 1, "web2/haproxy:web:443~2")  # another host: stays
    assert repo.move_deployments("local/haproxy:web:443~2", "haproxy:web") == 1
    assert [d.id for d in repo.deployment_history("local/haproxy:web")] == [first.id]
    assert repo.deployment_history("haproxy:web:443~2") == []
    assert repo.deployment_targets() == ["local/haproxy:web", "web2/haproxy:web:443~2"]
    assert repo.move_deployments("haproxy:gone", "haproxy:web") == 0
    [audit] = [e for e in repo.list_audit(action="deployment.move")]
    assert audit.detail == {"to": "local/haproxy:web", "deployments": 1}
