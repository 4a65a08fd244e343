"""Trust anchors for judging served chains: the system store, certmgr's CA, configured CAs."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certmgr.errors import PKIError, UsageError
from certmgr.pki import fingerprint_sha256, load_file

__all__ = ["SYSTEM_STORES", "load_trust", "system_anchors"]

#: Where distributions keep the system's trusted CA bundle (Debian/Ubuntu first).
SYSTEM_STORES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


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
    """Trust anchors: the system store, certificates from ``files``, and ``extra`` ones.

    Args:
        system: include the system store.
        files: CA files given by the user (any format certmgr.pki reads).
        extra: anchors from elsewhere, e.g. certmgr's built-in CA from the repository.

    Raises:
        UsageError: a CA file cannot be read or holds no certificate.
    """
    anchors: dict[str, x509.Certificate] = {}
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
        anchors.setdefault(fingerprint_sha256(cert), cert)
    return tuple(anchors.values())
