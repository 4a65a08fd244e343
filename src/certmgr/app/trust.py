"""Where every face gets its trust from: the one rule of :mod:`certmgr.pki.trust`, fed
with the built-in CA's roots from the repository.

``check``, ``scan`` and ``monitor`` all judge chains against :func:`trust_for`:
the system store, the built-in CA's roots and the ``--ca`` files; of these only
the roots are anchors. No face collects CA certificates itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from certmgr.errors import CertmgrError
from certmgr.pki.trust import anchors, load_trust

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["builtin_roots", "trust_for"]


def builtin_roots(repo: Repository | None) -> list[x509.Certificate]:
    """The root certificates of every built-in CA in the repository (none without one).

    A damaged CA record is left out: certificates it issued show up as untrusted.
    """
    if repo is None:
        return []
    from certmgr.pki import load_bundle

    roots: list[x509.Certificate] = []
    for issuer in repo.list_issuers():
        if getattr(issuer.kind, "value", issuer.kind) != "builtin":
            continue
        if not issuer.certificates_pem.strip():
            continue
        try:
            bundle = load_bundle(issuer.certificates_pem.encode(),
                                 source=f"issuer {issuer.name}")
        except CertmgrError:
            continue
        roots.extend(anchors(bundle.certificates))
    return roots


def trust_for(repo: Repository | None, *, ca_files: Iterable[Path] = (),
              system: bool = True) -> tuple[x509.Certificate, ...]:
    """What chains are judged against, for every caller: the system store (``system``),
    the built-in CA's roots (``repo``, if there is one) and the ``ca_files``.

    Raises:
        UsageError: a ``--ca`` file cannot be read or holds no certificate.
    """
    return load_trust(system=system, files=ca_files, extra=builtin_roots(repo))
