"""Any bytes as a program's configuration: discovery reports, never crashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.hosts.local import LocalHost
from certmgr.programs import discover_host

MAIN = {
    "slapd": "/etc/ldap/slapd.d/cn=config.ldif",
    "apache2": "/etc/apache2/apache2.conf",
    "vsftpd": "/etc/vsftpd.conf",
    "postfix": "/etc/postfix/main.cf",
    "dovecot": "/etc/dovecot/dovecot.conf",
    "tomcat": "/etc/tomcat10/server.xml",
    "nginx": "/etc/nginx/nginx.conf",
    "haproxy": "/etc/haproxy/haproxy.cfg",
}
# Config-shaped noise: the characters these syntaxes care about, plus anything.
CHARS = [*"<>{}[]\"'=:;#!$ \t\n\\/*.-_aZ09", "é", "\x00"]
NOISE = st.text(alphabet=st.sampled_from(CHARS), max_size=300) | \
    st.binary(max_size=200).map(lambda b: b.decode("latin-1"))


@pytest.mark.parametrize("kind", sorted(MAIN))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=NOISE)
def test_discovery_never_raises(tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / MAIN[kind].lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    result = discover_host(LocalHost(tmp_path))
    assert [s.kind.value for s in result.services] == [kind]
    assert all(f.code == "CONFIG_ERROR" and f.service == kind for f in result.findings)
