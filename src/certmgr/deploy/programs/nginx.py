"""nginx: ``nginx -t``, then a reload (full chain in the certificate file)."""

from __future__ import annotations

from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import config_flag, run_test
from certmgr.hosts.base import WritableHost
from certmgr.models import ServiceKind


class Nginx:
    kind: ClassVar[ServiceKind] = ServiceKind.NGINX
    config_dir: ClassVar[str] = "/etc/nginx"
    style: ClassVar[str] = "nginx"
    reads_key_as_user: ClassVar[bool] = False
    key_format: ClassVar[str] = KeyFormat.FULLCHAIN
    unit: ClassVar[str] = "nginx"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return f"nginx reload ({control.describe('nginx')})"

    @staticmethod
    def _flag(plan: DeployPlan) -> list[str]:
        return config_flag("-c", plan.target.config, "/etc/nginx/nginx.conf")

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        return run_test(host, ["nginx", *self._flag(plan), "-t"], "nginx -t")

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("nginx", ["nginx", *self._flag(ctx.plan), "-s", "reload"],
                                  self.unit)
