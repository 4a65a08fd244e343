"""The TLS and STARTTLS prober: what an endpoint serves, below both deploy and monitor.

The probe engine (:mod:`certmgr.probe.prober`) connects, runs a STARTTLS
dialogue when the endpoint needs one (:mod:`certmgr.probe.starttls`),
completes a TLS handshake without verification and captures the presented
chain. Every failure is a :class:`ProbeResult` with a :class:`Reason`.
Targets and the syntax that names them live in :mod:`certmgr.probe.targets`.

Layer: imports only :mod:`certmgr.pki`, :mod:`certmgr.models` and
:mod:`certmgr.errors`; deploy (verify after a reload) and monitor (scans,
scheduled probes) both sit above it.
"""

from __future__ import annotations

from certmgr.probe.prober import ProbeOptions, Prober, make_client_context, run_async
from certmgr.probe.result import ProbeFailure, ProbeResult, Reason
from certmgr.probe.targets import Target, TargetSpec, parse_target

__all__ = [
    "ProbeFailure",
    "ProbeOptions",
    "ProbeResult",
    "Prober",
    "Reason",
    "Target",
    "TargetSpec",
    "make_client_context",
    "parse_target",
    "run_async",
]
