"""The programs' own configuration tests, where the host can run them.

``apache2ctl -t``, ``nginx -t -c FILE``, ``doveconf -n -c FILE`` and
``haproxy -c -f FILE`` know every directive of the installed version (and its
modules), which no parser of ours can: an unknown or misplaced directive they
report becomes a CONFIG_ERROR with the file and line they name. Only
read-only tests are run (never ``postfix check``, which repairs things).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from certmgr.errors import HostError
from certmgr.hosts.base import Host
from certmgr.models import Finding, ServiceKind, Severity
from certmgr.services import Service

__all__ = ["NATIVE_TESTS", "NativeTest", "native_config_errors", "parse_output"]


@dataclass(frozen=True)
class NativeTest:
    """How to test one program's configuration and read file and line from its complaint."""

    program: str
    argv: Callable[[str], list[str]]
    patterns: tuple[re.Pattern[str], ...]


NATIVE_TESTS: dict[ServiceKind, NativeTest] = {
    ServiceKind.APACHE2: NativeTest(
        "apache2ctl", lambda _config: ["apache2ctl", "-t"],
        (re.compile(r"Syntax error on line (?P<line>\d+) of (?P<path>/[^:\s]+):\s*(?P<msg>.*)",
                    re.DOTALL),)),
    ServiceKind.NGINX: NativeTest(
        "nginx", lambda config: ["nginx", "-t", "-q", "-c", config],
        (re.compile(r"\[emerg\] (?:\d+#\d+: )?(?P<msg>.*?) in (?P<path>/\S+?):(?P<line>\d+)"),)),
    ServiceKind.DOVECOT: NativeTest(
        "doveconf", lambda config: ["doveconf", "-n", "-c", config],
        (re.compile(r"Error in configuration file (?P<path>/\S+) line (?P<line>\d+): "
                    r"(?P<msg>.*)"),)),
    ServiceKind.HAPROXY: NativeTest(
        "haproxy", lambda config: ["haproxy", "-c", "-f", config],
        (re.compile(r"\[ALERT\].*?parsing \[(?P<path>/[^:\]]+):(?P<line>\d+)\] : (?P<msg>.*)"),)),
}


def parse_output(test: NativeTest, output: str) -> list[tuple[str, int, str]]:
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
    test = NATIVE_TESTS.get(service.kind)
    if test is None or not host.can_run or host.which(test.program) is None:
        return []
    try:
        result = host.run(test.argv(service.config), timeout=timeout, check=False)
    except HostError:
        return []
    if result.ok:
        return []
    return [Finding("CONFIG_ERROR", Severity.ERROR,
                    f"{path}:{line}: {test.program} says: {message}",
                    service=service.kind.value, path=path, line=line)
            for path, line, message in parse_output(test, result.stdout + result.stderr)]
