"""The console's lists a page at a time (issue 17: "Lists are paginated"): each reads one
page from the repository (``LIMIT``/``OFFSET`` in SQL, with the total), so the first page
of 100,000 definitions costs what the first page of 100 does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from certmgr.app.views import MAX_PAGE, Page
from certmgr.errors import InputError, NotFound

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["MAX_NAME_PART", "definitions_page", "deployments_page", "hosts_page",
           "issuers_page", "requests_page", "tokens_page", "users_page"]

#: the longest name filter the definitions list takes (a definition's name is at most 255)
MAX_NAME_PART = 255


def _bounds(offset: int, limit: int) -> tuple[int, int]:
    return max(0, offset), max(1, min(limit, MAX_PAGE))


def definitions_page(repo: Repository, offset: int = 0, limit: int = 50, *,
                     name_part: str | None = None) -> Page:
    """Definitions by name (records), those whose name holds ``name_part`` (any case).

    Raises:
        InputError: ``name_part`` is longer than :data:`MAX_NAME_PART`.
    """
    offset, limit = _bounds(offset, limit)
    if name_part is not None and len(name_part) > MAX_NAME_PART:
        raise InputError(f"name filter {name_part[:40]!r}... is longer than {MAX_NAME_PART} "
                         "characters: give a part of a definition's name")
    found, total = repo.definition_page(offset, limit, name_part=name_part or None)
    return Page(tuple(found), total, offset, limit)


def hosts_page(repo: Repository, offset: int = 0, limit: int = 50) -> Page:
    """Every host certmgr knows (``local`` always, first; then the others by name), each
    with its discovered slots."""
    offset, limit = _bounds(offset, limit)
    local = offset == 0
    found, others = repo.host_page(max(0, offset - 1), limit - 1 if local else limit)
    hosts: list[dict[str, Any]] = [{"name": "local", "kind": "local", "address": None}] \
        if local else []
    hosts += [{"name": h.name, "kind": h.kind.value, "address": h.address} for h in found]
    for h in hosts:
        try:
            slots = repo.list_slots(h["name"])
        except NotFound:
            slots = []
        h["slots"] = [{"id": s.slot_id, "names": list(s.names)} for s in slots]
    return Page(tuple(hosts), others + 1, offset, limit)


def deployments_page(repo: Repository, offset: int = 0, limit: int = 50) -> Page:
    """Deployments (records), newest first."""
    offset, limit = _bounds(offset, limit)
    found, total = repo.deployment_page(offset, limit)
    return Page(tuple(found), total, offset, limit)


def requests_page(repo: Repository, offset: int = 0, limit: int = 50) -> Page:
    """Pending requests (:class:`certmgr.app.requests.PendingRequest`), oldest first."""
    from certmgr.app.requests import PendingRequest

    offset, limit = _bounds(offset, limit)
    found, total = repo.request_page(offset, limit)
    return Page(tuple(PendingRequest(int(r.id), r.definition, r.created, r.csr_pem)
                      for r in found), total, offset, limit)


def issuers_page(repo: Repository, offset: int = 0, limit: int = 50) -> Page:
    """Issuers as the settings show them (:func:`certmgr.app.issuers.issuer_setting`)."""
    from certmgr.app.issuers import issuer_setting

    offset, limit = _bounds(offset, limit)
    found, total = repo.issuer_page(offset, limit)
    return Page(tuple(issuer_setting(r) for r in found), total, offset, limit)


def users_page(repo: Repository, offset: int = 0, limit: int = 50) -> Page:
    """Users (records) by name."""
    offset, limit = _bounds(offset, limit)
    found, total = repo.user_page(offset, limit)
    return Page(tuple(found), total, offset, limit)


def tokens_page(repo: Repository, offset: int = 0, limit: int = 50) -> Page:
    """API tokens (records, never a token), oldest first."""
    offset, limit = _bounds(offset, limit)
    found, total = repo.token_page(offset, limit)
    return Page(tuple(found), total, offset, limit)
