"""deployment_targets: every slot with deployments, whatever definitions target today."""

from __future__ import annotations

from certmgr.repository import DefinitionRecord, Repository
from tests.repository.conftest import make_cert


def test_every_slot_with_deployments_once_sorted(repo: Repository) -> None:
    assert repo.deployment_targets() == []
    repo.save_definition(DefinitionRecord(name="www", cn="www.example.org",
                                          sans=("www.example.org",), targets=()))
    pem, key = make_cert()
    repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
    for target in ("web2/nginx:main", "apache2:default-ssl", "web2/nginx:main",
                   "lab:lab1/slapd"):
        repo.create_deployment("www", 1, target)
    # Definitions target nothing any more: the history is still listed.
    assert repo.deployment_targets() == ["lab:lab1/slapd", "local/apache2:default-ssl",
                                         "web2/nginx:main"]
