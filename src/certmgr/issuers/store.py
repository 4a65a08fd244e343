"""Issuers kept in the repository: the built-in CA's creation, loading, revocation and CRL.

The CA's private keys are stored by the repository, encrypted under its master
key (``IssuerRecord.keys``: role -> key_ref); its certificates are
``IssuerRecord.certificates_pem`` (intermediate, then root); revoked serials
and the CRL number live in ``IssuerRecord.config``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certmgr.errors import InputError, IssuanceError, NotFound, PKIError
from certmgr.inputs import SERIAL, printable, refuse_control
from certmgr.issuers.base import Issuer
from certmgr.issuers.builtin import BuiltinIssuer, create_ca
from certmgr.issuers.external import ExternalIssuer
from certmgr.pki import PrivateKey, Revoked, certificates_pem, load_bundle, signing_key
from certmgr.repository.records import (
    CertificateRecord,
    DefinitionRecord,
    IssuerKind,
    IssuerRecord,
    RequestRecord,
    RequestState,
)

__all__ = [
    "BUILTIN",
    "EXTERNAL",
    "CARepository",
    "ca_certificates",
    "init_builtin_ca",
    "load_issuer",
    "make_crl",
    "parse_serial",
    "revoke_serial",
]

BUILTIN = "builtin"
EXTERNAL = "external"


class CARepository(Protocol):
    """The part of :class:`certmgr.repository.Repository` issuers and acquisition use."""

    def get_issuer(self, name: str) -> IssuerRecord: ...
    def list_issuers(self) -> list[IssuerRecord]: ...
    def save_issuer(self, name: str, kind: IssuerKind | str, *,
                    config: Mapping[str, Any] | None = None, certificates_pem: str = "",
                    keys: Mapping[str, bytes | PrivateKeyTypes] | None = None
                    ) -> IssuerRecord: ...
    def load_private_key(self, ref: str, *, reason: str, actor: str | None = None) -> bytes: ...
    def certificate_by_serial(self, serial: str) -> CertificateRecord | None: ...
    def revoke_certificate(self, definition: str, version: int, *, reason: str = "") -> None: ...
    def get_definition(self, name: str) -> DefinitionRecord: ...
    def list_definitions(self) -> list[DefinitionRecord]: ...
    def save_definition(self, definition: DefinitionRecord) -> DefinitionRecord: ...
    def delete_definition(self, name: str) -> None: ...
    def add_certificate(self, definition: str, cert_pem: str, *, chain_pem: str = "",
                        key: bytes | PrivateKeyTypes | None = None, key_ref: str | None = None,
                        issuer: str | None = None,
                        request_id: int | None = None) -> CertificateRecord: ...
    def current_certificate(self, definition: str) -> CertificateRecord | None: ...
    def create_request(self, definition: str, key: bytes | PrivateKeyTypes,
                       csr_pem: str) -> RequestRecord: ...
    def list_requests(self, *, state: RequestState | None = RequestState.PENDING,
                      definition: str | None = None) -> list[RequestRecord]: ...
    def list_certificates(self, *, expiring_within: dt.timedelta | None = None,
                          current_only: bool = True, definition: str | None = None,
                          now: dt.datetime | None = None,
                          limit: int | None = None) -> list[CertificateRecord]: ...


def init_builtin_ca(repo: CARepository, name: str = BUILTIN, *,
                    common_name: str = "certmgr Root CA", organization: str | None = "certmgr",
                    force: bool = False) -> IssuerRecord:
    """Create the built-in CA (root + intermediate) and store it, keys encrypted.

    Raises:
        InputError: the CA exists already and ``force`` is not set (replacing a CA
            breaks trust in every certificate it issued); a name with control
            characters, or not 1-64 characters long (X.509's bound on CN and O).
    """
    for label, value in (("--cn", common_name), ("--org", organization), ("--name", name)):
        if value is None:
            continue
        refuse_control(value, label)
        if not 1 <= len(value) <= 64 or value != value.strip():
            raise InputError(f"{label} {value!r}: give 1-64 characters, without leading or "
                             "trailing spaces")
    if not force and _find(repo, name) is not None:
        raise InputError(f"the built-in CA {name!r} exists already; `certmgr ca show` prints "
                         "it (replacing it needs --force and re-issuing every certificate)")
    ca = create_ca(common_name, organization)
    return repo.save_issuer(
        name, IssuerKind.BUILTIN,
        config={"crl_number": 0, "revoked": []},
        certificates_pem=certificates_pem([ca.intermediate, ca.root]).decode("ascii"),
        keys={"root": ca.root_key, "intermediate": ca.intermediate_key})


def _find(repo: CARepository, name: str) -> IssuerRecord | None:
    try:
        return repo.get_issuer(name)
    except NotFound:
        return None


def ca_certificates(record: IssuerRecord) -> tuple[x509.Certificate, x509.Certificate]:
    """(intermediate, root) of a built-in CA record."""
    certs = load_bundle(record.certificates_pem.encode("ascii"),
                        source=f"issuer {record.name}").certificates
    if len(certs) != 2:
        raise IssuanceError(f"issuer {record.name!r}: expected an intermediate and a root, "
                            f"found {len(certs)} certificates; run `certmgr ca init --force`")
    return certs[0], certs[1]


def load_issuer(repo: CARepository, name: str | None) -> Issuer:
    """The issuer a definition names (default: the built-in CA).

    Raises:
        NotFound: no such issuer (for the built-in CA: run ``certmgr ca init``).
        IssuanceError: the issuer's kind cannot issue in this version (ACME).
    """
    name = name or BUILTIN
    record = _find(repo, name)
    if record is None:
        if name == EXTERNAL:
            return ExternalIssuer()
        hint = "run `certmgr ca init` first" if name == BUILTIN else "define it first"
        raise NotFound(f"no issuer {name!r} in the repository: {hint}")
    if record.kind is IssuerKind.BUILTIN:
        return _builtin(repo, record)
    if record.kind is IssuerKind.EXTERNAL:
        return ExternalIssuer(record.name)
    raise IssuanceError(f"issuer {name!r} is an ACME account; this version of certmgr issues "
                        "only from the built-in CA or an external CA")


def _builtin(repo: CARepository, record: IssuerRecord) -> BuiltinIssuer:
    inter, root = ca_certificates(record)
    key = _issuer_key(repo, record, "intermediate", "issue certificates")
    return BuiltinIssuer(record.name, root, inter, key,
                         crl_url=record.config.get("crl_url"))


def _issuer_key(repo: CARepository, record: IssuerRecord, role: str, reason: str) -> PrivateKey:
    ref = record.keys.get(role)
    if ref is None:
        raise IssuanceError(f"issuer {record.name!r} has no {role} key stored; "
                            "run `certmgr ca init --force`")
    der = repo.load_private_key(ref, reason=reason)
    try:
        key = serialization.load_der_private_key(der, None)
    except (ValueError, TypeError):
        raise PKIError(f"issuer {record.name!r}: the stored {role} key is unreadable") \
            from None
    return signing_key(key, f"issuer {record.name} {role} key")


def parse_serial(text: str) -> int:
    """A serial as printed (hex, colons allowed; ``0x`` prefix allowed).

    Raises:
        InputError: not a hexadecimal number, not positive, or longer than the
            20 octets RFC 5280 allows (no CRL could list it).
    """
    clean = text.strip().lower().removeprefix("0x").replace(":", "")
    if len(clean) > 64 or not re.fullmatch(r"[0-9a-f]+", clean):
        raise InputError(f"serial '{printable(text)}' is not a hexadecimal number")
    value = int(clean, 16)
    if value <= 0:
        raise InputError(f"serial {text!r} must be positive")
    if value not in SERIAL:
        raise InputError(f"serial {text!r} is longer than a certificate serial can be "
                         "(at most 20 octets, below 2**159: RFC 5280); check the number")
    return value


def revoke_serial(repo: CARepository, serial: str, *, name: str = BUILTIN,
                  reason: str = "") -> CertificateRecord | None:
    """Add ``serial`` to the CA's revocation list; mark its stored certificate revoked.

    Returns:
        The certificate record it revoked, or None if no stored certificate has
        that serial (it is still listed in the next CRL).

    Raises:
        InputError: a bad serial, or a stored certificate of another issuer.
        NotFound: no such CA.
    """
    value = parse_serial(serial)
    record = repo.get_issuer(name)
    cert = repo.certificate_by_serial(format(value, "x"))
    if cert is not None and cert.issuer != name:
        raise InputError(f"certificate {format(value, 'x')} ({cert.definition}) was issued by "
                         f"{cert.issuer!r}, not by the built-in CA {name!r}")
    revoked = list(record.config.get("revoked", []))
    if not any(int(item["serial"], 16) == value for item in revoked):
        revoked.append({"serial": format(value, "x"),
                        "at": dt.datetime.now(dt.UTC).isoformat(), "reason": reason})
    repo.save_issuer(name, record.kind, config={**record.config, "revoked": revoked},
                     certificates_pem=record.certificates_pem)
    if cert is not None:
        repo.revoke_certificate(cert.definition, cert.version, reason=reason)
    return cert


def make_crl(repo: CARepository, name: str = BUILTIN, *,
             on_skip: Callable[[str], None] | None = None) -> x509.CertificateRevocationList:
    """A new CRL of every revoked serial, signed by the intermediate (CRL number + 1).

    A stored entry no CRL can hold (a serial over 20 octets, revoked before
    serials were bounded) is left out and reported to ``on_skip``: one bad
    entry must not stop every later CRL.
    """
    record = repo.get_issuer(name)
    if record.kind is not IssuerKind.BUILTIN:
        raise InputError(f"issuer {name!r} is not the built-in CA")
    issuer = _builtin(repo, record)
    number = int(record.config.get("crl_number", 0)) + 1
    revoked: list[Revoked] = []
    for item in record.config.get("revoked", []):
        entry = _revoked_entry(item)
        if entry is None:
            if on_skip is not None:
                serial = item.get("serial") if isinstance(item, dict) else item
                on_skip(f"revocation entry '{printable(str(serial))}' of CA {name} is not a "
                        "valid serial and is left out of the CRL")
            continue
        revoked.append(entry)
    crl = issuer.crl(revoked, number)
    repo.save_issuer(name, record.kind, config={**record.config, "crl_number": number},
                     certificates_pem=record.certificates_pem)
    return crl


def _revoked_entry(item: Any) -> Revoked | None:
    try:
        serial = int(str(item["serial"]), 16)
        at = dt.datetime.fromisoformat(str(item["at"]))
    except (KeyError, TypeError, ValueError):
        return None
    return Revoked(serial, at) if serial in SERIAL else None
