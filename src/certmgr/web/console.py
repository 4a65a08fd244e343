"""The console's hold on the application layer: one repository for the server's life,
the job runner, and one method per thing a screen or the API does (each a call into
:mod:`certmgr.app`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.app import users as uc
from certmgr.app.audit import acting_as, audit_events
from certmgr.errors import NotFound
from certmgr.web.jobs import Job, JobRunner, Reporter
from certmgr.web.security import ApiError

if TYPE_CHECKING:
    from certmgr.app.console import DefinitionRecord, Repository
    from certmgr.app.dashboard import Dashboard
    from certmgr.app.definitions import Saved
    from certmgr.app.status import StatusReport
    from certmgr.app.views import CertificateDetail, Page

__all__ = ["Console"]


class Console:
    """A :class:`certmgr.app.Context` for the server (the repository opened once, shared
    by the request threads and the jobs: its connection is guarded by a lock)."""

    def __init__(self, home: Path, db: str | None = None, root: Path | None = None, *,
                 workers: int = 2) -> None:
        self._home, self._db, self._root = home, db, root
        self._repo: Repository | None = None
        self._lock = threading.Lock()
        self.jobs = JobRunner(workers)

    # -- Context -------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self._home

    @property
    def root(self) -> Path | None:
        return self._root

    def repository(self) -> Repository:
        with self._lock:
            if self._repo is None:
                from certmgr.app.console import open_console_repository

                self._repo = open_console_repository(self._db, self._home)
            return self._repo

    def existing_repository(self) -> Repository | None:
        # the console opens (and creates) its repository at start: there always is one
        return self.repository()

    def close(self) -> None:
        self.jobs.shutdown()
        if self._repo is not None:
            self._repo.close()

    # -- reading ---------------------------------------------------------------------

    def status(self) -> StatusReport:
        from certmgr.app.status import build_status

        return build_status(self.repository())

    def dashboard(self) -> Dashboard:
        from certmgr.app.dashboard import build_dashboard

        return build_dashboard(self.repository())

    def certificates(self, offset: int = 0, limit: int = 50, *,
                     state: str | None = None) -> Page:
        from certmgr.app.views import certificates_page

        return certificates_page(self.repository(), offset, limit, state=state)

    def certificate(self, name: str) -> CertificateDetail:
        from certmgr.app.views import certificate_detail

        return certificate_detail(self.repository(), name)

    def chain_pem(self, name: str) -> bytes:
        from certmgr.app.views import certificate_chain_pem

        return certificate_chain_pem(self.repository(), name)

    def definitions(self, offset: int = 0, limit: int = 50, *, q: str | None = None) -> Page:
        """A page of definitions (records) by name, those whose name holds ``q``."""
        from certmgr.app.lists import definitions_page

        return definitions_page(self.repository(), offset, limit, name_part=q)

    def definition(self, name: str) -> DefinitionRecord:
        return self.repository().get_definition(name)

    def hosts(self, offset: int = 0, limit: int = 50) -> Page:
        from certmgr.app.lists import hosts_page

        return hosts_page(self.repository(), offset, limit)

    def deployments(self, offset: int = 0, limit: int = 50) -> Page:
        from certmgr.app.lists import deployments_page

        return deployments_page(self.repository(), offset, limit)

    def requests(self, offset: int = 0, limit: int = 50) -> Page:
        from certmgr.app.lists import requests_page

        return requests_page(self.repository(), offset, limit)

    def issuers(self, offset: int = 0, limit: int = 50) -> Page:
        from certmgr.app.lists import issuers_page

        return issuers_page(self.repository(), offset, limit)

    def audit(self, limit: int = 100, action: str | None = None) -> list[Any]:
        return audit_events(self.repository(), limit=limit, action=action)

    def users(self, offset: int = 0, limit: int = 50) -> Page:
        from certmgr.app.lists import users_page

        return users_page(self.repository(), offset, limit)

    def tokens(self, offset: int = 0, limit: int = 50) -> Page:
        from certmgr.app.lists import tokens_page

        return tokens_page(self.repository(), offset, limit)

    # -- acting ----------------------------------------------------------------------

    def define(self, *, name: str, cn: str, sans: Sequence[str], key: str, validity: str,
               renew_before: str, issuer: str, targets: Sequence[str]) -> Saved:
        from certmgr.app.definitions import define, parse_duration

        try:
            self.repository().get_definition(name)
        except NotFound:
            pass
        else:
            raise ApiError(409, "exists", f"definition {name} exists already: change it "
                                          "with PUT")
        return define(self, name, cn, list(sans), key=key,
                      validity=parse_duration(validity, "validity"),
                      renew_before=parse_duration(renew_before, "renew_before"),
                      issuer=issuer, targets=list(targets))

    def edit(self, name: str, **changes: Any) -> Saved:
        from certmgr.app.definitions import edit, parse_duration

        for field in ("validity", "renew_before"):
            if changes.get(field) is not None:
                changes[field] = parse_duration(changes[field], field)
        return edit(self.repository(), name, **changes)

    def apply(self, text: str, source: str) -> tuple[Any, tuple[str, ...]]:
        from certmgr.app.definitions import apply

        return apply(self.repository(), text, source)

    def delete(self, name: str, *, with_certificates: bool = False) -> None:
        from certmgr.app.definitions import delete

        repo = self.repository()
        repo.get_definition(name)
        if not with_certificates and repo.current_certificate(name) is not None:
            raise ApiError(409, "has_certificates", f"definition {name} has certificates; "
                           "deleting it deletes them and their keys: add "
                           "with_certificates=true")
        delete(repo, name, with_certificates=with_certificates)

    def add_user(self, name: str, role: str, hosts: Sequence[str]) -> uc.NewUser:
        try:
            self.repository().get_user(name)
        except NotFound:
            return uc.add_user(self.repository(), name, role, hosts=hosts)
        raise ApiError(409, "exists", f"user {name} exists already")

    def remove_user(self, name: str) -> None:
        uc.remove_user(self.repository(), name)

    def revoke_token(self, token_id: int) -> None:
        uc.revoke_token(self.repository(), token_id)

    def deployment_targets(self, definition: str,
                           targets: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
        from certmgr.app.deploy import deployment_targets

        return deployment_targets(self.repository(), definition, targets)

    # -- jobs ------------------------------------------------------------------------

    def _submit(self, kind: str, subject: str, user: str, work: Any,
                params: dict[str, Any] | None = None) -> Job:
        def run(reporter: Reporter) -> Any:
            with acting_as(user):
                return work(reporter)

        job = self.jobs.submit(kind, subject, user, run, params)
        self.repository().record_event(f"job.{kind}", subject[:1000],
                                       {"job": job.id, "user": user})
        return job

    def issue_job(self, name: str, user: str) -> Job:
        from certmgr.app.certificates import issue

        self.repository().get_definition(name)  # 404 now, not in the job

        def work(reporter: Reporter) -> Any:
            reporter.event(f"issuing {name}")
            return issue(self.repository(), [name], raise_single=False)

        return self._submit("issue", f"definition:{name}", user, work)

    def discover_job(self, host: str, user: str) -> Job:
        from certmgr.app.inventory import discover

        def work(reporter: Reporter) -> Any:
            from certmgr.app.results import Batch, ItemResult

            reporter.event(f"discovering on {host}")
            found = discover(self, host)
            items = [ItemResult(f"{host}/{slot.id}", "discovered",
                                detail={"service": service.kind.value})
                     for service, slot in found.discovery.slots()]
            for note in found.notes:
                reporter.event(note)
            return Batch(tuple(items))

        return self._submit("discover", f"host:{host}", user, work)

    def deploy_job(self, definition: str, targets: Sequence[str], user: str, *,
                   dry_run: bool = False) -> Job:
        from certmgr.app.deploy import deploy_targets, item_of

        def work(reporter: Reporter) -> Any:
            reporter.event(f"deploying {definition} to {len(targets)} target(s)"
                           + (" (dry run)" if dry_run else ""))
            report = deploy_targets(self, definition, targets, dry_run=dry_run,
                                    on_done=lambda o: reporter.item(item_of(o)),
                                    on_step=reporter.step)
            return report.items

        return self._submit("deploy", f"definition:{definition}", user, work,
                            {"definition": definition, "targets": list(targets),
                             "dry_run": dry_run})

    def rollback_job(self, target: str, to: int | None, user: str,
                     allowed: Any, *, dry_run: bool = False) -> Job:
        """Go back to the certificate of an earlier deployment of ``target`` (``to``, or
        the verified one before the current); ``allowed(hosts)`` raises when the user
        may not act on the slot's host."""
        from certmgr.app.deploy import item_of, rollback, rollback_choice

        allowed([target.rpartition("/")[0] or "local"])  # refused before anything is read
        choice = rollback_choice(self.repository(), target, to)
        allowed([choice.deployment.host])

        def work(reporter: Reporter) -> Any:
            reporter.event(f"rolling {choice.target} back to {choice.definition} version "
                           f"{choice.version} (deployment {choice.deployment.id})"
                           + (" (dry run)" if dry_run else ""))
            report = rollback(self, choice, dry_run=dry_run,
                              on_done=lambda o: reporter.item(item_of(o)),
                              on_step=reporter.step)
            return report.items

        return self._submit("rollback", f"slot:{choice.target}", user, work,
                            {"target": choice.target, "to": choice.deployment.id,
                             "dry_run": dry_run})
