"""Health checks of discovered services: files, keys, permissions, AppArmor, certificates.

:func:`check_certificates` decides the certificate-level codes for files and for
served chains alike; :func:`run_checks` runs every check on every slot of a
discovery.
"""

from __future__ import annotations

from certmgr.checks.certificate import Where, check_certificates

__all__ = ["Where", "check_certificates"]
