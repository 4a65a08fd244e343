"""Monitoring: scheduled passes, scans, renewal, notices and metrics.

Probing itself (TLS and STARTTLS, targets) is :mod:`certmgr.probe`, a layer
below both monitor and deploy.
"""

from __future__ import annotations
