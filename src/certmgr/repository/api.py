"""``open_repository`` and the :class:`Repository` it returns."""

from __future__ import annotations

import os
from pathlib import Path

from certmgr.repository import masterkey as mk
from certmgr.repository.db import check_sqlite_directory, connect, enable_wal, resolve_url
from certmgr.repository.pages import Pages
from certmgr.repository.schema import ensure_schema

__all__ = ["PASSPHRASE_ENV", "Repository", "open_repository"]

PASSPHRASE_ENV = "CERTMGR_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


class Repository(Pages):
    """certmgr's repository: every method is one transaction and returns records.

    Parts: hosts and discovery (``upsert_host``, ``save_discovery``,
    ``list_slots``...), definitions, issuers, requests and certificate versions
    (``save_definition``, ``add_certificate``, ``list_certificates``...),
    deployments, observations, users and API tokens, encrypted private keys
    (``store_private_key``, ``load_private_key`` which is audited), the audit
    log (``list_audit``), the dashboard's aggregates (``expiry_aggregate``...) and
    the console's lists a page at a time (``definition_page``...).
    Close it with :meth:`close` or use it as a context manager.
    """

    def __enter__(self) -> Repository:
        return self


def open_repository(db_url: str | None, home: Path, *, passphrase: str | None = None,
                    actor: str | None = None, init_master_key: bool = True) -> Repository:
    """Open (creating on first use) the repository at ``db_url`` with its home ``home``.

    Args:
        db_url: ``sqlite:///FILE``, ``postgresql://...``, or None for
            ``<home>/certmgr.db``.
        home: certmgr's data directory, created 0700 if absent; holds the master
            key file.
        passphrase: protects the private keys instead of a key file; default
            ``$CERTMGR_PASSPHRASE``.
        actor: who audit events name (default: the local user).
        init_master_key: create the master key now if the repository has none
            (``restore`` opens without, to take the backup's).

    Raises:
        RepositoryError: the home cannot be used, the URL is malformed, the server
            is unreachable, or the database is damaged, foreign or newer.
        MasterKeyError: the key file or passphrase is not this repository's.
    """
    home = Path(home).expanduser()
    if passphrase is None:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
    url = resolve_url(db_url, home)
    if url.backend == "sqlite":
        if db_url:
            check_sqlite_directory(url)  # a --db in a missing directory leaves no home behind
        mk.ensure_home(home)
    db = connect(url)  # an unreachable server leaves no home behind
    try:
        mk.ensure_home(home)
        ensure_schema(db)
        enable_wal(db)  # only once the file is known to be ours
        repo = Repository(db, home, passphrase=passphrase, actor=actor)
        repo.verify_master_key()
        if init_master_key:
            repo.ensure_master_key()
    except BaseException:
        db.close()
        raise
    return repo

