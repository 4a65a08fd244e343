"""Certificates: issue, request and receive, import, export, list.

Every function takes the repository and plain values and returns values; the
faces print them. Heavy modules (issuers, keystores) are imported inside the
functions: ``certmgr list --json`` runs against a 1 s budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.app.files import write_file
from certmgr.app.results import Batch, ItemResult
from certmgr.errors import CertmgrError, InputError
from certmgr.issuers.schedule import RenewalState, renewal_state
from certmgr.repository.records import CertificateRecord, DefinitionRecord

if TYPE_CHECKING:
    from certmgr.issuers import IssueOutcome, Issuer
    from certmgr.repository import Repository

__all__ = ["CertificateRow", "ExportResult", "RequestResult", "export", "import_files",
           "issue", "list_certificates", "receive", "request"]

#: ``on_item(name)`` when a definition starts, ``on_item(None)`` when it is done.
Progress = Callable[[str | None], None]


# -- issue ----------------------------------------------------------------------------

def issue(repo: Repository, names: Sequence[str] | None, *,
          on_start: Callable[[int], None] | None = None, on_item: Progress | None = None,
          raise_single: bool = True, dry_run: bool = False,
          root: Path | None = None) -> Batch:
    """Issue each named definition (``names`` None: every definition), one result each.

    One definition failing never stops the others: its result says ``failed``
    and why. With ``raise_single``, a batch of one definition raises its error
    instead (the face's exit code then tells what kind of failure it was).
    ``on_start(count)`` is called once the definitions are known, ``on_item`` as
    each starts and ends (see :data:`Progress`).

    ACME definitions are ordered concurrently (:mod:`certmgr.app.acme_issue`); with
    ``dry_run`` only they are issued, against their issuers' staging directories, and
    nothing is stored.

    Raises:
        NotFound: a named definition does not exist (before anything is issued).
        InputError: ``dry_run`` and an issuer has no staging directory.
    """
    from certmgr.app.acme_issue import is_acme_definition, issue_acme
    from certmgr.issuers import issue_definition, load_issuer

    todo: list[DefinitionRecord] = (repo.list_definitions() if names is None
                                    else [repo.get_definition(n) for n in names])
    acme_defs = [d for d in todo if is_acme_definition(repo, d)]
    if dry_run:
        others = [d.name for d in todo if d not in acme_defs]
        if others and names is not None:
            raise InputError(f"issue --dry-run is for ACME definitions; {', '.join(others)} "
                             "issue from another CA")
        todo = acme_defs
    if on_start is not None:
        on_start(len(todo))
    tick = on_item or (lambda _name: None)
    acme_results = issue_acme(repo, acme_defs if not dry_run else todo, root=root,
                              dry_run=dry_run, tick=tick) if acme_defs else {}
    if raise_single and len(todo) == 1 and todo[0].name in acme_results:
        only = acme_results[todo[0].name]
        if not only.ok:
            from certmgr.errors import IssuanceError

            raise IssuanceError(only.reason)
    # Each issuer is loaded once per run: the CA's key is decrypted (one audited read)
    # and its certificates parsed once, not per certificate.
    issuers: dict[str | None, Issuer] = {}
    items: list[ItemResult] = []
    for definition in todo:
        if definition.name in acme_results:
            items.append(acme_results[definition.name])
            continue
        tick(definition.name)
        try:
            if definition.issuer not in issuers:
                issuers[definition.issuer] = load_issuer(repo, definition.issuer)
            items.append(_issued(issue_definition(repo, definition,
                                                  issuers[definition.issuer])))
        except CertmgrError as exc:  # one definition failing must not stop the others
            if raise_single and len(todo) == 1:
                raise
            items.append(ItemResult(definition.name, "failed", ok=False, reason=exc.message,
                                    detail={"definition": definition.name,
                                            "message": exc.message}))
        except Exception as exc:  # a bug in one item is data, not the end of the batch
            if raise_single and len(todo) == 1:
                raise
            message = (f"internal error: {type(exc).__name__}: {exc} (this is a bug in "
                       "certmgr)")
            items.append(ItemResult(definition.name, "failed", ok=False, reason=message,
                                    detail={"definition": definition.name,
                                            "message": message}))
        tick(None)
    return Batch(tuple(items))


def _issued(outcome: IssueOutcome) -> ItemResult:
    data = outcome.to_json()
    status = data.pop("status")
    return ItemResult(outcome.definition, status, reason=outcome.message, detail=data)


# -- request and receive --------------------------------------------------------------

@dataclass(frozen=True)
class RequestResult:
    """A pending request: its id and where its CSR was written."""

    definition: str
    request: int
    csr: Path

    def to_json(self) -> dict[str, Any]:
        return {"definition": self.definition, "request": self.request, "csr": str(self.csr)}


def request(repo: Repository, name: str, csr_out: Path) -> RequestResult:
    """Make a key and CSR for an outside CA; write the CSR (PEM) to ``csr_out``.

    Raises:
        InputError: ``csr_out`` is a directory or cannot be written.
    """
    definition = repo.get_definition(name)
    if csr_out.exists() and csr_out.is_dir():
        raise InputError(f"--csr-out {csr_out}: is a directory; give a file name")
    from certmgr.issuers import request_csr

    record, pem = request_csr(repo, definition)
    write_file(csr_out, pem, secret=False)
    return RequestResult(name, int(record.id), csr_out)


def receive(repo: Repository, data: bytes, *, source: str,
            password: str | None = None) -> CertificateRecord:
    """Store a certificate from an outside CA under the pending request whose key it has."""
    from certmgr.issuers import receive as receive_certificate

    return receive_certificate(repo, data, source=source, password=password)


def import_files(repo: Repository, inputs: Sequence[tuple[bytes, str]], *,
                 key_file: tuple[bytes, str] | None = None, password: str | None = None,
                 name: str | None = None) -> tuple[DefinitionRecord, CertificateRecord]:
    """Take an existing certificate under management: a definition and its first version."""
    from certmgr.issuers import import_certificate

    return import_certificate(repo, inputs, key_file=key_file, password=password, name=name)


# -- export ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportResult:
    """The files an export wrote, with their modes."""

    definition: str
    format: str
    files: tuple[tuple[Path, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {"definition": self.definition, "format": self.format,
                "files": [{"path": str(p), "mode": f"{m:04o}"} for p, m in self.files]}


def export(repo: Repository, name: str, fmt: str, out: Path, *,
           password: str | None = None, alias: str | None = None) -> ExportResult:
    """Write the current certificate of ``name`` in a server program's format into ``out``
    (created 0700 if absent); keys and keystores 0600, the rest 0644."""
    from certmgr.issuers import export_files

    files = export_files(repo, name, fmt, password=password, alias=alias)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a directory")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create: {exc.strerror}", path=out) from None
    written = []
    for f in files:
        write_file(out / f.name, f.data, secret=f.secret)
        written.append((out / f.name, 0o600 if f.secret else 0o644))
    return ExportResult(name, fmt, tuple(written))


# -- list -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificateRow:
    """One line of ``certmgr list``: a current certificate, or a definition without one."""

    name: str
    domains: tuple[str, ...]
    issuer: str | None
    version: int | None
    serial: str | None
    sha256: str | None
    not_after: dt.datetime | None
    days_left: int | None
    state: RenewalState
    targets: tuple[str, ...]
    acme: dict[str, Any] | None = None  # ACME: profile, ARI window, next renewal time

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "domains": list(self.domains), "issuer": self.issuer,
               "version": self.version, "serial": self.serial, "sha256": self.sha256,
               "not_after": self.not_after.isoformat() if self.not_after else None,
               "days_left": self.days_left, "status": self.state.value,
               "targets": list(self.targets)}
        if self.acme is not None:
            out.update(self.acme)
        return out


def certificate_row(record: CertificateRecord, definition: DefinitionRecord | None,
                    now: dt.datetime) -> CertificateRow:
    """The row of a stored certificate, judged by the one renewal-state function."""
    return CertificateRow(
        record.definition, tuple(record.sans), record.issuer, record.version, record.serial,
        record.sha256, record.not_after, (record.not_after - now) // dt.timedelta(days=1),
        renewal_state(record, definition, now),
        tuple(definition.targets) if definition else (), _acme_columns(record, definition))


def _acme_columns(record: CertificateRecord,
                  definition: DefinitionRecord | None) -> dict[str, Any] | None:
    """Profile, ARI window and next renewal time of an ACME certificate (None otherwise)."""
    if definition is None or not isinstance(definition.data.get("acme"), dict):
        return None
    from certmgr.issuers.schedule import renew_at

    state = definition.data.get("acme_state")
    state = state if isinstance(state, dict) and state.get("sha256") == record.sha256 else {}
    window = ({"start": state["window_start"], "end": state["window_end"]}
              if state.get("window_start") else None)
    return {"profile": state.get("profile") or definition.data["acme"].get("profile"),
            "ari_window": window, "ari_next_check": state.get("next_check"),
            "explanation_url": state.get("explanation_url"),
            "next_renewal": renew_at(record, definition).isoformat()}


def list_certificates(repo: Repository, *, expiring_within: dt.timedelta | None = None,
                      now: dt.datetime | None = None) -> tuple[CertificateRow, ...]:
    """Current certificates (those expiring within ``expiring_within``, expired ones
    included); without a window also the definitions that have none yet."""
    now = now or dt.datetime.now(dt.UTC)
    records = repo.list_certificates(expiring_within=expiring_within, now=now)
    defs = _definitions_for(repo, records, all_=expiring_within is None)
    rows = [certificate_row(r, defs.get(r.definition), now) for r in records]
    if expiring_within is None:
        have = {r.definition for r in records}
        waiting = {r.definition for r in repo.list_requests()}
        rows += [_not_issued(d, d.name in waiting, now) for d in defs.values()
                 if d.name not in have]
    return tuple(rows)


def _definitions_for(repo: Repository, records: Iterable[CertificateRecord],
                     *, all_: bool) -> dict[str, DefinitionRecord]:
    if all_:
        return {d.name: d for d in repo.list_definitions()}
    # The window holds few of 100,000 definitions: one bulk lookup, not one query each.
    defs: dict[str, DefinitionRecord] = repo.get_definitions({r.definition for r in records})
    return defs


def _not_issued(d: DefinitionRecord, requested: bool, now: dt.datetime) -> CertificateRow:
    return CertificateRow(d.name, (d.cn, *d.sans), d.issuer, None, None, None, None, None,
                          renewal_state(None, d, now, requested=requested), tuple(d.targets))
