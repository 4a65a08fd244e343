"""ACME issuers: accounts kept in the repository, and orders for definitions.

An ACME issuer record holds ``config`` = directory URL, account URL, contacts, the
terms of service agreed (URL and time), the default profile, the CA bundle, the
staging directory and whether ARI is used; its account key is stored encrypted
(role ``account``) and read with an audited ``load_private_key``.

Issuing is split so orders run concurrently without sharing the repository:
:func:`plan` (main thread: reads the repository, decrypts the keys once) makes an
:class:`Order`, :func:`run` (any thread: network only) returns an :class:`Outcome`
(a certificate, or the failure as data), :func:`store` (main thread) writes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.errors import CertmgrError, InputError, IssuanceError
from certmgr.issuers.acme_ari import ari_cert_id, pick_in_window
from certmgr.issuers.acme_challenges import (
    DnsHook,
    DnsUpdate,
    Solver,
    Standalone,
    Webroot,
    challenge_of,
    parse_tsig_key,
)
from certmgr.issuers.acme_client import (
    AcmeConnection,
    AlreadyReplaced,
    Directory,
    RateLimited,
    Window,
    account_jwk,
)
from certmgr.issuers.definitions import definition_names
from certmgr.issuers.store import CARepository
from certmgr.pki import KeyType, build_csr, certificate_pem, csr_pem, generate_key, load_bundle
from certmgr.repository.records import (
    CertificateRecord,
    DefinitionRecord,
    IssuerKind,
    IssuerRecord,
)

__all__ = ["Order", "Outcome", "acme_settings", "connect", "create_issuer", "plan", "run",
           "store"]

TSIG_KIND = "tsig"


def acme_settings(definition: DefinitionRecord) -> dict[str, Any] | None:
    """The ACME part of a definition (``data["acme"]``), or None for other issuers."""
    value = definition.data.get("acme")
    return value if isinstance(value, dict) else None


def connect(repo: CARepository, record: IssuerRecord, *, staging: bool = False,
            reason: str = "ACME request") -> AcmeConnection:
    """A connection to the issuer's CA with its account (the key read is audited)."""
    if record.kind is not IssuerKind.ACME:
        raise InputError(f"issuer {record.name} is not an ACME issuer")
    ref = record.keys.get("account")
    if ref is None:
        raise IssuanceError(f"issuer {record.name}: no account key stored; add it again")
    key = serialization.load_der_private_key(repo.load_private_key(ref, reason=reason), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cfg = record.config
    url = cfg["staging_directory"] if staging else cfg["directory"]
    account = cfg.get("staging_account_url") if staging else cfg.get("account_url")
    conn = AcmeConnection(url, account_jwk(key), account_url=account,
                          ca_bundle=cfg.get("ca_bundle"), name=f"issuer {record.name}")
    if account is None:  # staging: register there on first use, same key and contacts
        conn.register(tuple(cfg.get("contacts", ())), bool(cfg.get("tos_agreed")))
    return conn


def create_issuer(repo: CARepository, name: str, directory_url: str, *,
                  contacts: Sequence[str] = (), agree_tos: bool = False,
                  eab: tuple[str, str] | None = None, profile: str | None = None,
                  ca_bundle: str | None = None, staging_directory: str | None = None,
                  ari: bool = True, preferred_chain: str | None = None,
                  roots_pem: str = "") -> tuple[IssuerRecord, Directory]:
    """Make an account key, register it with the CA, store the issuer (key encrypted)
    with the CA's root certificates ``roots_pem`` (checked by the caller), if given.

    Raises:
        InputError: terms of service not agreed, EAB required but missing, unknown profile.
        IssuanceError: the CA refused or cannot be reached.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    conn = AcmeConnection(directory_url, account_jwk(key), ca_bundle=ca_bundle,
                          name=f"issuer {name}")
    directory = conn.directory()
    if directory.terms_of_service and not agree_tos:
        raise InputError(f"issuer {name}: the CA's terms of service ({directory.terms_of_service})"
                         " must be agreed: read them and add --agree-tos")
    if directory.eab_required and eab is None:
        raise InputError(f"issuer {name}: this CA requires External Account Binding: give "
                         "--eab-kid and --eab-hmac-key-file")
    check_profile(directory, profile, f"issuer {name}")
    account_url = conn.register(tuple(contacts), agree_tos, eab)
    now = dt.datetime.now(dt.UTC).isoformat()
    config: dict[str, Any] = {
        "directory": directory_url, "account_url": account_url, "contacts": list(contacts),
        "tos_agreed": agree_tos, "tos_url": directory.terms_of_service,
        "tos_agreed_at": now if agree_tos else None, "profile": profile,
        "ca_bundle": ca_bundle, "staging_directory": staging_directory, "ari": ari,
        "eab_kid": eab[0] if eab else None, "preferred_chain": preferred_chain}
    record = repo.save_issuer(name, IssuerKind.ACME, config=config, keys={"account": key},
                              certificates_pem=roots_pem)
    return record, directory


def check_profile(directory: Directory, profile: str | None, where: str) -> None:
    if profile and profile not in directory.profiles:
        known = ", ".join(sorted(directory.profiles)) or "none"
        raise InputError(f"{where}: profile {profile!r} is not offered by the CA (its profiles: "
                         f"{known})")


# -- orders -----------------------------------------------------------------------------

@dataclass
class Order:
    """Everything one order needs, gathered in the main thread."""

    definition: DefinitionRecord
    issuer: IssuerRecord
    conn: AcmeConnection
    key: Any
    csr: x509.CertificateSigningRequest
    names: tuple[str, ...]
    solver: Solver
    profile: str | None
    replaces: str | None
    dry_run: bool = False


@dataclass
class Outcome:
    """One order's result: the certificate (with chain and ARI window), or why not."""

    order: Order
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    window: Window | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None  # rateLimited: not before this time
    replaced: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _solver(repo: CARepository, definition: DefinitionRecord, settings: Mapping[str, Any],
            host: Any, webroots: Mapping[str, str] | None = None) -> Solver:
    challenge = settings.get("challenge", "http-01")
    names = definition_names(definition)
    if challenge == "http-01":
        wild = [n for n in names if n.startswith("*.")]
        if wild:
            raise InputError(f"definition {definition.name}: wildcard names ({', '.join(wild)}) "
                             "need --challenge dns-01")
        if settings.get("webroot"):
            return Webroot(host, str(settings["webroot"]))
        if webroots and "standalone_port" not in settings and set(names) <= set(webroots):
            return Webroot(host, "", roots=dict(webroots))  # the servers answering the names
        return Standalone(str(settings.get("standalone_address", "")),
                          int(settings.get("standalone_port", 80)))
    if challenge == "dns-01" and settings.get("dns_hook"):
        return DnsHook(str(settings["dns_hook"]))
    if challenge == "dns-01" and settings.get("dns_provider"):
        return _lexicon(repo, definition, settings)
    if challenge == "dns-01":
        ref = settings.get("tsig_key_ref")
        server = settings.get("dns_server")
        if not ref or not server:
            raise InputError(f"definition {definition.name}: dns-01 needs --dns-server and "
                             "--tsig-key")
        text = repo.load_private_key(str(ref), reason=f"dns-01 for {definition.name}")
        hostname, _, port = str(server).rpartition(":")
        return DnsUpdate(hostname, int(port), parse_tsig_key(text.decode(), "stored key"))
    raise InputError(f"definition {definition.name}: challenge {challenge!r} is not http-01 or "
                     "dns-01")


def _lexicon(repo: CARepository, definition: DefinitionRecord,
             settings: Mapping[str, Any]) -> Solver:
    from certmgr.issuers.acme_lexicon import LexiconDns, parse_credentials

    options: dict[str, str] = {}
    ref = settings.get("dns_credentials_ref")
    if ref:
        text = repo.load_private_key(str(ref), reason=f"dns-01 for {definition.name}")
        options = parse_credentials(text.decode("utf-8", "replace"), "stored credentials")
    server = None
    if settings.get("dns_server"):
        hostname, _, port = str(settings["dns_server"]).rpartition(":")
        server = (hostname, int(port))
    return LexiconDns(str(settings["dns_provider"]), options, server)


def plan(repo: CARepository, definition: DefinitionRecord, record: IssuerRecord,
         conn: AcmeConnection, *, host: Any = None, dry_run: bool = False,
         webroots: Mapping[str, str] | None = None) -> Order:
    """Key, CSR, solver and the certificate replaced (its ARI id) for one definition.

    ``webroots`` (name -> document root on ``host``, from discovery) answers http-01
    through the web server already serving the names when the definition gives neither
    ``webroot`` nor ``standalone_port``.
    """
    settings = acme_settings(definition) or {}
    limited = (definition.data.get("acme_limits") or {}).get(record.name)
    if isinstance(limited, str) and dt.datetime.fromisoformat(limited) > dt.datetime.now(dt.UTC):
        raise IssuanceError(f"issuer {record.name} rate-limited {definition.name} until "
                            f"{limited}; not asked again before then")
    solver = _solver(repo, definition, settings, host, webroots)
    key = generate_key(KeyType.parse(definition.key_type))
    names = definition_names(definition)
    csr = build_csr(key, names, definition.cn)
    profile = settings.get("profile") or record.config.get("profile")
    check_profile(conn.directory(), profile, f"definition {definition.name}")
    replaces = None
    current = repo.current_certificate(definition.name)
    if current is not None and not dry_run and record.config.get("ari", True):
        previous = x509.load_pem_x509_certificate(current.cert_pem.encode())
        if current.issuer == record.name:  # replaces names a certificate of this CA
            replaces = ari_cert_id(previous)
    return Order(definition, record, conn, key, csr, names, solver, profile, replaces, dry_run)


def run(order: Order) -> Outcome:
    """Place the order, answer its challenges, finalize, fetch the ARI window.

    Never raises for the CA's or the network's failures: they come back as
    ``Outcome.error`` (one line), so one order's failure does not stop the others.
    """
    try:
        return _run(order)
    except RateLimited as exc:
        return Outcome(order, error=exc.message, retry_at=exc.retry_at)
    except CertmgrError as exc:
        return Outcome(order, error=exc.message)


def _run(order: Order) -> Outcome:
    conn = order.conn
    identifiers = [("ip" if _is_ip(n) else "dns", n) for n in order.names]
    try:
        placed = conn.new_order(csr_pem(order.csr), identifiers, profile=order.profile,
                                replaces=order.replaces)
    except AlreadyReplaced:
        # Another order replaced that certificate already (RFC 9773 section 5): this one
        # is a plain new order, without the renewal exemption.
        order.replaces = None
        placed = conn.new_order(csr_pem(order.csr), identifiers, profile=order.profile,
                                replaces=None)
    try:
        pending = []
        for authz in placed.authorizations:
            if authz.body.status.name == "valid":  # reused authorization: nothing to answer
                continue
            challenge = challenge_of(authz.body.challenges, order.solver.kind)
            if challenge is None:
                raise IssuanceError(f"{conn.name}: no {order.solver.kind} challenge offered "
                                    f"for {authz.body.identifier.value}")
            response = order.solver.publish(authz.body.identifier.value, challenge.chall,
                                            conn.key)
            pending.append((authz, challenge, response))
        order.solver.ready()
        for _authz, challenge, response in pending:
            conn.answer(challenge, response)
        for authz, _challenge, _response in pending:
            conn.wait_authorization(authz)
    finally:
        order.solver.cleanup()
    fullchain, alternates = conn.finalize(placed)
    chosen = choose_chain([fullchain, *alternates], order.issuer.config.get("preferred_chain"))
    certs = load_bundle(chosen.encode(), source=f"{conn.name} certificate").certificates
    leaf, chain = certs[0], tuple(certs[1:])
    window = None
    if order.issuer.config.get("ari", True) and not order.dry_run:
        window = conn.renewal_info(ari_cert_id(leaf))
    return Outcome(order, leaf, chain, window, replaced=order.replaces)


def choose_chain(chains: Sequence[str], preferred: str | None) -> str:
    """The default chain, or the first (default, then ``Link: rel="alternate"``) whose
    topmost certificate is issued by (or is) the root named ``preferred``."""
    if not preferred:
        return chains[0]
    for pem in chains:
        certs = load_bundle(pem.encode(), source="ACME chain").certificates
        top = certs[-1]
        names = {a.value for cert_name in (top.issuer, top.subject)
                 for a in cert_name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)}
        if preferred in names:
            return pem
    return chains[0]


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def store(repo: Any, outcome: Outcome, now: dt.datetime | None = None) -> CertificateRecord:
    """Store the certificate (its key encrypted) and the renewal state in the definition."""
    from dataclasses import replace

    assert outcome.certificate is not None
    order = outcome.order
    record: CertificateRecord = repo.add_certificate(
        order.definition.name, certificate_pem(outcome.certificate).decode("ascii"),
        chain_pem="".join(certificate_pem(c).decode("ascii") for c in outcome.chain),
        key=order.key, issuer=order.issuer.name)
    state = renewal_record(record, outcome.certificate, outcome.window, order,
                           now or dt.datetime.now(dt.UTC))
    if outcome.replaced:
        state["replaced"] = outcome.replaced
    fresh = repo.get_definition(order.definition.name)
    repo.save_definition(replace(fresh, data={**fresh.data, "acme_state": state}))
    return record


def renewal_record(record: CertificateRecord, cert: x509.Certificate, window: Window | None,
                   order: Order, now: dt.datetime) -> dict[str, Any]:
    """What the schedule reads back: ARI window, chosen time, next check, profile."""
    state: dict[str, Any] = {"sha256": record.sha256, "ari_id": ari_cert_id(cert),
                             "issuer": order.issuer.name, "profile": order.profile}
    if window is not None:
        state.update(window_start=window.start.isoformat(), window_end=window.end.isoformat(),
                     next_check=window.retry_after.isoformat(),
                     explanation_url=window.explanation,
                     renew_at=pick_in_window(window.start, window.end, now).isoformat())
    return state
