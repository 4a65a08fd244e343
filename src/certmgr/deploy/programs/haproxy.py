"""haproxy: ``haproxy -c``, then a master-worker reload (one combined PEM: chain and key).

HAProxy as Debian runs it is in master-worker mode (``-W``/``-Ws``): SIGUSR2
to the master makes it re-execute itself with the configuration, start new
workers and let the old ones finish their connections (the listening sockets
are handed over, so no connection is refused). A configuration that fails to
load leaves the master waiting with the old workers serving: the reload
therefore runs ``haproxy -c`` first, as Debian's unit does, and signals only
a configuration that loads.
"""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import retest_before_signal, run_test
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind

__all__ = ["Haproxy"]

PID_FILE = "/run/haproxy.pid"  # Debian's PIDFILE


class Haproxy:
    kind: ClassVar[ServiceKind] = ServiceKind.HAPROXY
    style: ClassVar[str] = "haproxy"
    reads_key_as_user: ClassVar[bool] = False  # the master loads it as root
    key_format: ClassVar[str] = KeyFormat.COMBINED
    unit: ClassVar[str] = "haproxy"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return (f"haproxy -c, then a master-worker reload (SIGUSR2 to the master; "
                f"{control.describe('haproxy')})")

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        # haproxy -c loads every crt file: a key that does not match fails it.
        return run_test(host, ["haproxy", "-c", "-f", plan.target.config], "haproxy -c")

    def reload(self, ctx: ReloadContext) -> str:
        retest_before_signal(ctx, lambda: self.config_test(ctx.host, ctx.plan), "haproxy",
                             "its old workers still serve the old certificate")
        # Without a service table or systemd: USR2 to the master named by Debian's pid file.
        default = ["sh", "-c", f'kill -USR2 "$(cat {PID_FILE})"']
        return ctx.control.reload("haproxy", default, self.unit)
