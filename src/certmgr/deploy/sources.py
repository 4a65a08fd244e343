"""Where deploy's inputs come from: hosts by name, certificates from the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509

from certmgr.deploy.model import Material
from certmgr.errors import CertmgrError, DeployError, HostError, NotFound, UsageError
from certmgr.hosts.base import WritableHost
from certmgr.hosts.local import LocalHost
from certmgr.pki import load_bundle
from certmgr.pki.trust import anchors, intermediates, system_anchors
from certmgr.pki.write import key_pem
from certmgr.repository.records import IssuerKind

__all__ = ["material_from_repository", "open_host"]


def open_host(repository: Any, name: str, *, root: Path | None = None) -> WritableHost:
    """The host called ``name``: ``local``, a registered ``lab:NAME`` or ``ssh://...``.

    With ``root`` (``--root DIR``), ``local`` is that files-only tree.

    Raises:
        UsageError: the host is not registered (``certmgr host add`` / ``lab up``).
        HostError: its record cannot be used.
    """
    if name == "local":
        return LocalHost(root=root) if root is not None else LocalHost()
    if root is not None:
        raise UsageError(f"--root stands for the local host only, not {name}")
    try:
        record = repository.get_host(name)
    except NotFound:
        how = "certmgr lab up" if name.startswith("lab:") else "certmgr host add"
        raise UsageError(f"host {name} is not registered; add it with {how}") from None
    params = dict(record.params)
    kind = getattr(record.kind, "value", record.kind)
    if kind == "lab":
        from certmgr.hosts.lab import open_lab_host

        return open_lab_host(Path(params["lab_dir"]), name.removeprefix("lab:"))
    if kind == "ssh":
        from certmgr.hosts.ssh import SSHHost

        return SSHHost(name, key=params.get("key"), known_hosts=params.get("known_hosts"))
    if kind == "local":
        return LocalHost()
    raise HostError(f"host {name} has an unknown kind {kind!r} in the repository", host=name)


def material_from_repository(repository: Any, definition: str,
                             version: int | None = None) -> Material:
    """The certificate (current, or ``version``) of ``definition`` with its key and trust.

    Raises:
        DeployError: no certificate has been issued, or its key is not in the repository.
    """
    if version is None:
        record = repository.current_certificate(definition)
        if record is None:
            raise DeployError(f"{definition} has no issued certificate yet; run certmgr issue "
                              f"{definition} first")
    else:
        record = repository.get_certificate(definition, version)
    if not record.key_ref:
        raise DeployError(f"{definition} v{record.version} has no private key in the "
                          "repository (issued elsewhere?); import it with its key")
    cert = load_bundle(record.cert_pem.encode(), source=f"{definition} certificate")
    if cert.leaf is None:
        raise DeployError(f"{definition} v{record.version}: the stored certificate is empty")
    chain = _certs(record.chain_pem)
    # The one trust rule (certmgr.pki.trust): the slot trusts the roots, the
    # intermediates go into the chain it serves.
    trusted = anchors(chain) or _issuer_roots(repository, record.issuer)
    raw = repository.load_private_key(record.key_ref, reason=f"deploy {definition}")
    key = load_bundle(raw, source=f"{definition} key").key
    if key is None:
        raise DeployError(f"{definition} v{record.version}: its stored key cannot be read")
    return Material(definition, cert.leaf, key_pem(key),
                    intermediates(chain), trusted,
                    int(record.version))


def _certs(pem: str) -> tuple[x509.Certificate, ...]:
    return load_bundle(pem.encode()).certificates if pem.strip() else ()


def _issuer_roots(repository: Any, issuer: str | None) -> tuple[x509.Certificate, ...]:
    if not issuer:
        return ()
    try:
        record = repository.get_issuer(issuer)
    except CertmgrError:
        return ()
    if not record.certificates_pem.strip() and record.kind is IssuerKind.ACME:
        # An ACME CA sends no root: a public CA's is in the system store.
        return anchors(system_anchors())
    return anchors(_certs(record.certificates_pem))
