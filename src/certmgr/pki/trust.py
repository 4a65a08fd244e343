"""The one trust rule: which certificates are anchors, and where anchors come from.

Every caller that judges a chain (``check``, ``scan``, ``monitor``, deploy's
preflight) follows it:

- **Anchors are roots** (self-issued certificates): the system store's, the
  built-in CA's, and those in files the user gives with ``--ca``.
- **Intermediates are never anchors**: a chain that ends at one is not trusted.
  Intermediates only help build the path from a leaf to a root; those that
  come with anchors (a ``--ca`` file holding an intermediate and its root) are
  kept for that, those a server fails to send are not supplied for it (clients
  would not have them either: it is CHAIN_INCOMPLETE).

:func:`anchors` is the rule itself; :func:`load_trust` gathers the certificates
from the sources (the repository's part, the built-in CA's roots, is read by
``certmgr.app.trust``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certmgr.errors import PKIError, UsageError
from certmgr.pki.certinfo import fingerprint_sha256, is_self_issued
from certmgr.pki.load import load_file

__all__ = ["SYSTEM_STORES", "anchors", "intermediates", "load_trust", "system_anchors"]

#: Where distributions keep the system's trusted CA bundle (Debian/Ubuntu first).
SYSTEM_STORES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def anchors(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The trust anchors among ``certificates``: the roots (self-issued), in order."""
    return tuple(c for c in certificates if is_self_issued(c))


def intermediates(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The certificates that only help build paths: every one that is not a root."""
    return tuple(c for c in certificates if not is_self_issued(c))


def system_anchors(stores: Iterable[str] = SYSTEM_STORES) -> list[x509.Certificate]:
    """The certificates of the first system CA bundle found (none if there is none)."""
    for store in stores:
        path = Path(store)
        if path.is_file():
            try:
                with warnings.catch_warnings():
                    # Distribution bundles carry a few old roots with odd serials; cryptography
                    # warns about them, but they are the system's choice to trust.
                    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                    return x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError):
                continue
    return []


def load_trust(*, system: bool = True, files: Iterable[Path] = (),
               extra: Iterable[x509.Certificate] = ()) -> tuple[x509.Certificate, ...]:
    """The certificates a chain is judged against: the system store, ``files``, ``extra``.

    Only the roots among them are anchors (see :func:`anchors`; the chain checks
    apply it); the intermediates of a ``--ca`` file are kept to help build paths.

    Args:
        system: include the system store.
        files: CA files given by the user (any format certmgr.pki reads).
        extra: anchors from elsewhere, e.g. certmgr's built-in CA roots from the repository.

    Raises:
        UsageError: a CA file cannot be read or holds no certificate.
    """
    found: dict[str, x509.Certificate] = {}
    sources: list[x509.Certificate] = system_anchors() if system else []
    for path in files:
        try:
            bundle = load_file(path)
        except PKIError as exc:
            raise UsageError(f"--ca: {exc.message}") from None
        if not bundle.certificates:
            raise UsageError(f"--ca {path}: holds no certificate; give a PEM or DER CA file")
        sources.extend(bundle.certificates)
    sources.extend(extra)
    for cert in sources:
        found.setdefault(fingerprint_sha256(cert), cert)
    return tuple(found.values())
