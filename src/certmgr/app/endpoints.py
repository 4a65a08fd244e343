"""The monitored endpoints as the console shows them: each with its last probe, the
certificate it served and what is wrong (by kind, to filter on); one endpoint with its
history of probes; and "scan now" over some or all of them.

Endpoints are what ``certmgr monitor`` watches (every endpoint of every discovered slot,
:func:`certmgr.monitor.scheduler_endpoints.watched_endpoints`) plus any endpoint the
repository holds observations of; their history is the repository's observations
(bounded per endpoint, ``history`` in monitor.toml). A scan now probes and judges them
exactly as a monitor pass does (same checks, DRIFT against the last verified deployment)
and records each observation, without renewing or notifying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from certmgr.app.results import Batch, ItemResult
from certmgr.app.views import Page, page
from certmgr.errors import InputError, NotFound

if TYPE_CHECKING:
    from certmgr.app.context import Context
    from certmgr.monitor.scheduler_endpoints import Watched
    from certmgr.repository import ObservationRecord, Repository
    from certmgr.repository.operations import LatestSummary

__all__ = ["PROBLEMS", "EndpointDetail", "EndpointRow", "check_endpoint_id", "endpoint_detail",
           "endpoint_id", "endpoint_rows", "endpoints_page", "hosts_of", "scan_endpoints",
           "scan_targets"]

#: The kinds of problem an endpoint can be filtered by, in the order they are shown.
PROBLEMS = ("unreachable", "expired", "expiring", "drift", "mismatch", "chain", "unprobed")
_BY_CODE = {"EXPIRED": "expired", "EXPIRING_SOON": "expiring", "DRIFT": "drift",
            "NAME_MISMATCH": "mismatch", "CHAIN_UNTRUSTED": "chain",
            "CHAIN_INCOMPLETE": "chain", "SELF_SIGNED": "chain", "NOT_YET_VALID": "chain",
            "WEAK_SIGNATURE": "chain", "WEAK_KEY": "chain"}
_ID = re.compile(r"[0-9a-f]{16}")
SCAN_BATCH = 4  # times the probe concurrency: endpoints probed between progress reports

Key = tuple[str, int, str, str | None]  # address, port, tls mode, SNI


def endpoint_id(address: str, port: int, tls: str, sni: str | None) -> str:
    """A stable short id of an endpoint (its address, port, TLS mode and SNI)."""
    text = f"{address}|{int(port)}|{tls}|{sni or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_endpoint_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise InputError(f"endpoint id {value[:40]!r}: give the 16 hex digits the endpoint "
                         "list shows")
    return value


def _kinds(ok: bool | None, codes: Iterable[str]) -> tuple[str, ...]:
    """The problems of an endpoint whose last probe was ``ok`` with findings ``codes``
    (``ok`` None: never probed)."""
    if ok is None:
        return ("unprobed",)
    if not ok:
        return ("unreachable",)
    found = {_BY_CODE[c] for c in codes if c in _BY_CODE}
    return tuple(p for p in PROBLEMS if p in found)


def _problems(o: ObservationRecord | None) -> tuple[str, ...]:
    if o is None:
        return _kinds(None, ())
    return _kinds(o.ok, (str(f.get("code", "")) for f in o.findings))


def observation_json(o: ObservationRecord) -> dict[str, Any]:
    return {"time": o.time.isoformat(), "ok": o.ok, "error": o.error,
            "leaf_sha256": o.leaf_sha256,
            "not_after": o.not_after.isoformat() if o.not_after else None,
            "chain_sha256": list(o.chain_sha256), "findings": list(o.findings),
            "problems": list(_problems(o))}


@dataclass(frozen=True)
class EndpointRow:
    """One endpoint: where, which slots it serves, its last probe and its problems.
    ``served`` is the definition and version of the certificate it served when certmgr
    has it (None: unknown to certmgr, or nothing served)."""

    id: str
    host: str | None
    address: str
    port: int
    tls: str
    sni: str | None
    slots: tuple[str, ...]
    monitored: bool
    last: ObservationRecord | None
    served: tuple[str, int] | None
    problems: tuple[str, ...]

    @property
    def label(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port}" + (f" ({self.sni})" if self.sni else "") + \
            (f" {self.tls}" if self.tls not in ("tls", "direct") else "")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "address": self.address, "port": self.port,
                "tls": self.tls, "sni": self.sni, "slots": list(self.slots),
                "monitored": self.monitored,
                "last_probe": observation_json(self.last) if self.last else None,
                "served": {"definition": self.served[0], "version": self.served[1]}
                if self.served else None,
                "problems": list(self.problems)}


def _monitored(repo: Repository) -> dict[Key, tuple[str, list[str]]]:
    """Every watched endpoint -> (host, slots), as the monitor probes it (a wildcard
    listener at its host's address), without reading deployments: one query."""
    from certmgr.monitor.scheduler_endpoints import probe_address
    from certmgr.probe.targets import Target

    hosts = {h.name: h for h in repo.list_hosts()}
    addresses = {name: probe_address(host) for name, host in hosts.items()}
    out: dict[Key, tuple[str, list[str]]] = {}
    for host, slot_id, endpoint in repo.slot_endpoints():
        t = Target.from_endpoint(endpoint, addresses.get(host))
        out.setdefault((t.host, t.port, t.tls.value, t.sni), (host, []))[1].append(
            f"{host}/{slot_id}")
    return out


@dataclass(frozen=True)
class _Entry:
    """An endpoint in brief: what the list sorts, filters and pages on."""

    key: Key
    id: str
    host: str | None
    slots: tuple[str, ...]
    monitored: bool
    latest: int | None  # the id of its newest observation
    problems: tuple[str, ...]

    def order(self) -> tuple[str, str, int, str, str]:
        return (self.host or "~", self.key[0], self.key[1], self.key[2], self.key[3] or "")


# repository -> (its endpoints_version(), the entries read then): 10,000 endpoints are
# read again only when an observation, a discovery or a host has changed.
_KEPT: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], tuple[_Entry, ...]]] = \
    weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def _entries(repo: Repository) -> tuple[_Entry, ...]:
    """Every endpoint (monitored ones and those only observed), by host and address,
    read without decoding any observation in full (kept while nothing changed; after
    probes only, the kept list is brought forward by the observations they stored)."""
    version = repo.endpoints_version()
    with _KEPT_LOCK:
        kept = _KEPT.get(repo)
    if kept is not None and kept[0] == version:
        return kept[1]
    entries = _brought_forward(repo, kept, version) if kept is not None else None
    if entries is None:
        entries = _read_entries(repo)
    with _KEPT_LOCK:
        _KEPT[repo] = (version, entries)
    return entries


def _entry(key: Key, watched: tuple[str, Sequence[str]] | None,
           obs: LatestSummary | None) -> _Entry:
    """An endpoint in brief: ``watched`` its (host, slots) when monitored, ``obs`` its
    newest observation in brief."""
    host, slots = watched or (obs[5] if obs else None, [])
    return _Entry(key, endpoint_id(*key), host, tuple(slots), watched is not None,
                  obs[0] if obs else None,
                  _kinds(obs[6], obs[7]) if obs else _kinds(None, ()))


def _brought_forward(repo: Repository, kept: tuple[tuple[Any, ...], tuple[_Entry, ...]],
                     version: tuple[Any, ...]) -> tuple[_Entry, ...] | None:
    """The kept entries with the observations stored since, when nothing else changed
    (no discovery, no host; no marked observation gone): those few read by id instead
    of every endpoint's. None: read the whole list again."""
    before, entries = kept
    since = int(before[0] or 0)  # None: no observation then
    if (len(before) != len(version) or before[1:-1] != version[1:-1] or version[0] is None
            or int(version[0]) <= since):
        return None
    by_key = {e.key: e for e in entries}
    marked = before[-1]
    for obs in repo.latest_summaries(after=since):
        key: Key = (obs[1], obs[2], obs[3], obs[4])
        old = by_key.get(key)
        if old is None or old.latest is None:
            marked += 1  # an endpoint's first observation
        by_key[key] = _entry(key, (old.host or "", old.slots) if old and old.monitored
                             else None, obs)
    if marked != version[-1]:  # a marked observation went, or one came in between
        return None
    return tuple(sorted(by_key.values(), key=_Entry.order))


def _read_entries(repo: Repository) -> tuple[_Entry, ...]:
    monitored = _monitored(repo)
    latest = {(a, p, t, s): (i, a, p, t, s, h, ok, codes)
              for i, a, p, t, s, h, ok, codes in repo.latest_summaries()}
    out = [_entry(key, monitored.get(key), latest.get(key)) for key in {*monitored, *latest}]
    out.sort(key=_Entry.order)
    return tuple(out)


def _rows(repo: Repository, entries: Sequence[_Entry]) -> list[EndpointRow]:
    """The full rows of a page of entries: their newest observations and what certmgr
    knows of the certificate each served."""
    found = {o.id: o for o in repo.observations_by_id(
        [e.latest for e in entries if e.latest is not None])}
    served: dict[str, tuple[str, int] | None] = {}
    rows = []
    for e in entries:
        o = found.get(e.latest) if e.latest is not None else None
        if o is not None and o.leaf_sha256 and o.leaf_sha256 not in served:
            cert = repo.certificate_by_fingerprint(o.leaf_sha256)
            served[o.leaf_sha256] = (cert.definition, cert.version) if cert else None
        address, port, tls, sni = e.key
        rows.append(EndpointRow(e.id, e.host, address, port, tls, sni, e.slots, e.monitored,
                                o, served.get(o.leaf_sha256) if o and o.leaf_sha256 else None,
                                e.problems))
    return rows


def endpoint_rows(repo: Repository) -> list[EndpointRow]:
    """Every endpoint in full, by host and address (monitored and only observed ones)."""
    entries = _entries(repo)
    return [row for start in range(0, len(entries), 500)
            for row in _rows(repo, entries[start:start + 500])]


def endpoints_page(repo: Repository, offset: int = 0, limit: int = 50, *,
                   problem: str | None = None) -> Page:
    """One page of the endpoints, only those with ``problem`` when given (``any``: those
    with any problem); only the page's observations are read in full."""
    if problem is not None and problem not in (*PROBLEMS, "any"):
        raise InputError(f"problem {problem!r}: use one of any, {', '.join(PROBLEMS)}")
    entries: Sequence[_Entry] = _entries(repo)
    if problem == "any":
        entries = [e for e in entries if e.problems]
    elif problem is not None:
        entries = [e for e in entries if problem in e.problems]
    chosen = page(entries, offset, limit)
    return Page(tuple(_rows(repo, chosen.items)), chosen.total, chosen.offset, chosen.limit)


@dataclass(frozen=True)
class EndpointDetail:
    endpoint: EndpointRow
    history: tuple[ObservationRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.endpoint.to_json(),
                "history": [observation_json(o) for o in self.history]}


def _find(repo: Repository, ident: str) -> EndpointRow:
    check_endpoint_id(ident)
    for entry in _entries(repo):
        if entry.id == ident:
            return _rows(repo, [entry])[0]
    raise NotFound(f"no endpoint {ident}: see the endpoint list")


def endpoint_detail(repo: Repository, ident: str, *, limit: int = 100) -> EndpointDetail:
    """An endpoint and its probes, newest first (at most ``limit``).

    Raises:
        InputError: not an endpoint id. NotFound: no such endpoint.
    """
    row = _find(repo, ident)
    history = repo.observation_history(row.address, row.port, row.tls, row.sni, limit=limit)
    return EndpointDetail(row, tuple(history))


def scan_targets(repo: Repository, ids: Sequence[str] | None,
                 allowed: Callable[[str], bool] = lambda host: True) -> list[Watched]:
    """The monitored endpoints to scan: those of ``ids``, or (None) every one on a host
    ``allowed`` (a user restricted to some hosts scans "all" of its own).

    Raises:
        InputError: a bad id, or nothing to scan. NotFound: an id names no monitored
            endpoint (one only observed is no longer in any slot: nothing to probe).
    """
    from certmgr.monitor.scheduler_endpoints import watched_endpoints

    watched = watched_endpoints(repo)
    by_id = {endpoint_id(w.target.host, w.target.port, w.target.tls.value, w.target.sni): w
             for w in watched}
    if ids is None:
        chosen = [w for w in watched if allowed(w.host)]
        if not chosen:
            raise InputError("no monitored endpoint to scan: discover a host's services first")
        return chosen
    out = []
    for ident in dict.fromkeys(ids):
        check_endpoint_id(ident)
        if ident not in by_id:
            raise NotFound(f"no monitored endpoint {ident}: see the endpoint list")
        out.append(by_id[ident])
    return out


def scan_endpoints(ctx: Context, watched: Sequence[Watched], *,
                   on_item: Callable[[ItemResult], None] | None = None,
                   now: Callable[[], dt.datetime] | None = None) -> Batch:
    """Probe ``watched`` as a monitor pass does (monitor.toml's timeout, concurrency,
    expiry warning and history), judge and record each, in batches; one item each:
    ``ok`` or ``problems`` (with the kinds) or ``unreachable``."""
    from certmgr.app.trust import trust_for
    from certmgr.monitor.scan import Checker, ScanPolicy
    from certmgr.monitor.scan_repository import observation_record
    from certmgr.monitor.settings import load_settings
    from certmgr.probe.prober import ProbeOptions, Prober, run_async

    settings = load_settings(ctx.home)
    repo = ctx.repository()
    prober = Prober(ProbeOptions(timeout=settings.probe_timeout.total_seconds(),
                                 concurrency=settings.concurrency))
    trust = trust_for(repo)
    items: list[ItemResult] = []
    by_target = {w.target: w for w in watched}
    batch = SCAN_BATCH * settings.concurrency
    for start in range(0, len(watched), batch):
        chunk = watched[start:start + batch]
        probes = run_async(prober.probe_all(w.target for w in chunk))
        checker = Checker(ScanPolicy(
            trust=trust, now=(now or (lambda: dt.datetime.now(dt.UTC)))(),
            warn_days=max(1, settings.expiry_warning.days),
            expected=lambda t: by_target[t].expectation if t in by_target else None))
        for w, probe in zip(chunk, probes, strict=True):
            result = checker.check(probe)
            saved = repo.add_observation(observation_record(result, host=w.host),
                                         keep=settings.history)
            item = _item(w, saved)
            items.append(item)
            if on_item is not None:
                on_item(item)
    return Batch(tuple(items))


def _item(w: Watched, o: ObservationRecord) -> ItemResult:
    problems = _problems(o)
    ident = endpoint_id(o.address, o.port, o.tls, o.sni)
    detail = {"endpoint": ident, "host": w.host, "problems": list(problems)}
    if not o.ok:
        return ItemResult(w.label, "unreachable", ok=False, reason=o.error or "unreachable",
                          detail=detail)
    if problems:
        return ItemResult(w.label, "problems", ok=False, reason=", ".join(problems),
                          detail=detail)
    return ItemResult(w.label, "ok", detail=detail)


def hosts_of(watched: Iterable[Watched]) -> list[str]:
    return list(dict.fromkeys(w.host for w in watched))
