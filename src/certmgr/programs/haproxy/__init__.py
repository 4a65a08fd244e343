"""haproxy: discovery of bind lines and crt-lists; ``haproxy -c``, then a master-worker
reload (one combined PEM: chain and key).

HAProxy as Debian runs it is in master-worker mode (``-W``/``-Ws``): SIGUSR2
to the master makes it re-execute itself with the configuration, start new
workers and let the old ones finish their connections (the listening sockets
are handed over, so no connection is refused). A configuration that fails to
load leaves the master waiting with the old workers serving: the reload
therefore runs ``haproxy -c`` first, as Debian's unit does, and signals only
a configuration that loads.
"""

from __future__ import annotations

import re
from typing import ClassVar

from certmgr.programs.spec import (
    ConfigTest,
    KeyFormat,
    ProgramSpec,
    ReloadContext,
    ServiceControlView,
)
from certmgr.programs.styles import LineStyle
from certmgr.programs.tools import retest_before_signal

__all__ = ["CRT_LIST_STYLE", "SPEC", "STYLE", "Haproxy"]

# bind ... crt /path ...
STYLE = LineStyle("haproxy", r"(?m)(?P<lead>[ \t]{d}[ \t]+)(?P<value>\S+)")
# a line of a crt-list file:  /path [ssl options] sni-filters...
CRT_LIST_STYLE = LineStyle("haproxy-crt-list", r"(?m)^(?P<lead>[ \t]*)(?P<value>[^\s#]+)")

PID_FILE = "/run/haproxy.pid"  # Debian's PIDFILE


class Haproxy(ProgramSpec):
    name: ClassVar[str] = "haproxy"
    title: ClassVar[str] = "haproxy"
    seed_dir: ClassVar[str | None] = "/etc/haproxy"
    style: ClassVar[LineStyle] = STYLE
    reads_key_as_user: ClassVar[bool] = False  # the master loads it as root
    key_format: ClassVar[str] = KeyFormat.COMBINED
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/sbin/haproxy",)
    # haproxy -c loads every crt file: a key that does not match fails it.
    config_test_spec: ClassVar[ConfigTest | None] = ConfigTest(
        "haproxy", "haproxy -c", lambda _host, config: ["haproxy", "-c", "-f", config],
        (re.compile(r"\[ALERT\].*?parsing \[(?P<path>/[^:\]]+):(?P<line>\d+)\] : (?P<msg>.*)"),))
    unit: ClassVar[str] = "haproxy"

    def line_style(self, directive: str) -> LineStyle:
        # A crt-list entry is set on its own line of the list file.
        return CRT_LIST_STYLE if directive == "crt-list" else self.style

    def reload_method(self, control: ServiceControlView) -> str:
        return (f"haproxy -c, then a master-worker reload (SIGUSR2 to the master; "
                f"{control.describe('haproxy')})")

    def reload(self, ctx: ReloadContext) -> str:
        retest_before_signal(ctx, lambda: self.config_test(ctx.host, ctx.plan), "haproxy",
                             "its old workers still serve the old certificate")
        # Without a service table or systemd: USR2 to the master named by Debian's pid file.
        default = ["sh", "-c", f'kill -USR2 "$(cat {PID_FILE})"']
        return ctx.control.reload("haproxy", default, self.unit)


SPEC = Haproxy()
