"""The programs' own configuration tests, where the host can run them.

``apache2ctl -t``, ``nginx -t``, ``doveconf -n`` and ``haproxy -c -f FILE``
know every directive of the installed version (and its modules), which no
parser of ours can: an unknown or misplaced directive they report becomes a
CONFIG_ERROR with the file and line they name. Each test is its program's
spec's (``ProgramSpec.config_test_spec``, the one deploy runs too); only
read-only ones are run here (never ``postfix check``, which repairs things).
"""

from __future__ import annotations

from certmgr.errors import HostError
from certmgr.hosts.base import Host
from certmgr.models import Finding, Severity
from certmgr.programs import Service
from certmgr.programs.spec import ConfigTest

__all__ = ["native_config_errors", "parse_output"]


def parse_output(test: ConfigTest, output: str) -> list[tuple[str, int, str]]:
    """(path, line, message) of each complaint in a test's output."""
    found: list[tuple[str, int, str]] = []
    for pattern in test.patterns:
        for m in pattern.finditer(output):
            message = " ".join(m.group("msg").split())[:300]
            entry = (m.group("path"), int(m.group("line")), message)
            if entry not in found:
                found.append(entry)
    return found


def native_config_errors(host: Host, service: Service, *, timeout: float = 30.0,
                         ) -> list[Finding]:
    """CONFIG_ERROR findings from the program's own configuration test, if it can run here."""
    test = service.kind.spec.config_test_spec
    if test is None or not test.read_only or not test.patterns:
        return []
    if not host.can_run or host.which(test.program) is None:
        return []
    try:
        result = host.run(test.argv(host, service.config), timeout=timeout, check=False)
    except HostError:
        return []
    if result.ok:
        return []
    return [Finding("CONFIG_ERROR", Severity.ERROR,
                    f"{path}:{line}: {test.program} says: {message}",
                    service=service.kind.value, path=path, line=line)
            for path, line, message in parse_output(test, result.stdout + result.stderr)]
