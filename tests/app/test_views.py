"""The console's read models: a page of the certificate list read page by page from the
repository is the same as the list ``certmgr list`` prints, cut in pages."""

from __future__ import annotations

from certmgr.app.certificates import list_certificates
from certmgr.app.views import certificate_chain_pem, certificate_detail, certificates_page
from certmgr.issuers import make_definition
from certmgr.repository import Repository
from tests.app.conftest import issue


def test_pages_are_the_list_cut_in_pages(repo: Repository) -> None:
    for name in ("c.example", "a.example", "b.example"):
        issue(repo, name)
    for name in ("z.example", "y.example"):
        repo.save_definition(make_definition(name, name))
    whole = [r.to_json() for r in list_certificates(repo)]
    for size in (1, 2, 3, 5):
        pages = [certificates_page(repo, offset, size) for offset in range(0, 6, size)]
        assert all(p.total == 5 for p in pages)
        assert [r.to_json() for p in pages for r in p.items] == whole
    assert [r.name for r in certificates_page(repo, 2, 2).items] == [whole[2]["name"],
                                                                      whole[3]["name"]]
    assert certificates_page(repo, 10, 2).items == ()


def test_a_certificate_with_its_chain(repo: Repository) -> None:
    issued = issue(repo, "d.example")
    detail = certificate_detail(repo, "d.example")
    assert detail.current and detail.current["serial"] == issued.record.serial
    assert [c["is_ca"] for c in detail.chain] == [False, True]
    pem = certificate_chain_pem(repo, "d.example").decode()
    assert pem.count("BEGIN CERTIFICATE") == 2 and "PRIVATE" not in pem
