"""``scan``: probe endpoints, judge what they serve by the one trust rule, and take what
was found under management.

The monitor's prober and checker do the work (:mod:`certmgr.monitor.scan`);
this module decides what a scan is judged against and what it does with the
results: save the served chains, import the unmanaged leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from certmgr.app.files import write_file
from certmgr.app.results import Batch, ItemResult
from certmgr.app.trust import trust_for
from certmgr.errors import CertmgrError, InputError, UsageError
from certmgr.monitor.scan import THREADED_FROM, ScanPolicy, ScanResult
from certmgr.monitor.scan import scan as run_scan
from certmgr.monitor.scan_repository import repository_expectations
from certmgr.probe.prober import ProbeOptions
from certmgr.probe.targets import TargetSpec, expand_all

if TYPE_CHECKING:
    from certmgr.probe.result import ProbeResult
    from certmgr.repository import Repository

__all__ = ["import_found", "save_chains", "scan", "scan_policy"]


def scan_policy(repo: Repository | None, *, ca_files: Iterable[Path] = (),
                system_trust: bool = True, warn_days: int = 30) -> ScanPolicy:
    """What served chains are judged against: the one trust rule (:func:`trust_for`) and,
    with a repository, what certmgr deployed where (DRIFT)."""
    return ScanPolicy(trust=trust_for(repo, ca_files=ca_files, system=system_trust),
                      warn_days=warn_days,
                      expected=repository_expectations(repo) if repo is not None else None)


def scan(specs: Sequence[TargetSpec], policy: ScanPolicy, options: ProbeOptions, *,
         threads: int | None = None,
         on_probe: Callable[[ProbeResult], None] | None = None) -> list[ScanResult]:
    """Probe every target of ``specs`` and check what each served; one result per target."""
    total = sum(spec.count() for spec in specs)
    # A small scan gets a list, so it stays on one event loop (see monitor.scan.scan()).
    targets = list(expand_all(specs)) if total < THREADED_FROM else expand_all(specs)
    return run_scan(targets, options=options, policy=policy, on_probe=on_probe,
                    threads=threads)


def _chain_pem(result: ScanResult) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"".join(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
                    for der in result.probe.chain)


def save_chains(directory: Path, results: Iterable[ScanResult]) -> dict[str, Path]:
    """Write each distinct served chain to ``directory`` as PEM (``SHA256[:16].pem``).

    Returns:
        leaf fingerprint -> the file written for it.

    Raises:
        UsageError: the directory cannot be created.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--save-chains {directory}: cannot create it: {exc.strerror}") from None
    written: dict[str, Path] = {}
    for result in results:
        fingerprint = result.probe.leaf_sha256
        if fingerprint is None or fingerprint in written:
            continue
        path = directory / f"{fingerprint[:16]}.pem"
        try:
            write_file(path, _chain_pem(result), secret=False)
        except InputError as exc:
            raise UsageError(f"--save-chains {directory}: {exc.message}") from None
        written[fingerprint] = path
    return written


def import_found(repo: Repository, results: Iterable[ScanResult]) -> Batch:
    """Import each distinct unmanaged leaf found (with the chain it was served with).

    One result per distinct leaf: ``imported`` (with the new definition),
    ``managed`` (certmgr has it already) or ``skipped`` (and why); one that cannot
    be imported never stops the others.
    """
    from certmgr.issuers import import_certificate

    seen: set[str] = set()
    items: list[ItemResult] = []
    for result in results:
        sha = result.probe.leaf_sha256
        if sha is None or sha in seen:
            continue
        seen.add(sha)
        target = str(result.target)
        base = {"target": target, "sha256": sha}
        if repo.certificate_by_fingerprint(sha) is not None:
            items.append(ItemResult(target, "managed", detail=base))
            continue
        try:
            definition, _record = import_certificate(repo, [(_chain_pem(result), target)])
        except CertmgrError as exc:
            items.append(ItemResult(target, "skipped", ok=False, reason=exc.message,
                                    detail=base))
            continue
        items.append(ItemResult(target, "imported",
                                detail={**base, "definition": definition.name}))
    return Batch(tuple(items))
