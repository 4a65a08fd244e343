"""haproxy: ``haproxy -c``, then a reload (one combined PEM: chain and key)."""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import run_test
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind


class Haproxy:
    kind: ClassVar[ServiceKind] = ServiceKind.HAPROXY
    config_dir: ClassVar[str] = "/etc/haproxy"
    style: ClassVar[str] = "haproxy"
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.COMBINED
    unit: ClassVar[str] = "haproxy"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return f"haproxy reload ({control.describe('haproxy')})"

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        return run_test(host, ["haproxy", "-c", "-f", plan.target.config], "haproxy -c")

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("haproxy", ["systemctl", "reload", self.unit], self.unit)
