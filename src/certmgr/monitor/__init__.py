"""Monitoring: network probes (TLS and STARTTLS), scans, checks on what is served.

The probe engine (:mod:`certmgr.monitor.probe`) connects, runs a STARTTLS
dialogue when the endpoint needs one (:mod:`certmgr.monitor.starttls`),
completes a TLS handshake without verification and captures the presented
chain. Every failure is a :class:`ProbeResult` with a :class:`Reason`.
"""

from __future__ import annotations

from certmgr.monitor.probe import ProbeOptions, Prober, make_client_context, run_async
from certmgr.monitor.probe_result import ProbeFailure, ProbeResult, Reason
from certmgr.monitor.targets import Target, TargetSpec, parse_target

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
