"""nginx: ``nginx -t``, then a reload: SIGHUP to the master (full chain in the certificate file).

On SIGHUP the master tests the new configuration itself and, if it fails,
keeps serving with the old one: a reload never takes nginx down, but it also
cannot say that the new key was refused. So the reload runs ``nginx -t`` first
and signals only a configuration that loads; verify then proves the new chain
is served.
"""

from __future__ import annotations

import posixpath
from typing import ClassVar

from certmgr.deploy.model import DeployPlan
from certmgr.deploy.programs.base import KeyFormat, ReloadContext
from certmgr.deploy.programs.control import ServiceControl
from certmgr.deploy.programs.simple import retest_before_signal, run_test
from certmgr.hosts.base import Host, WritableHost
from certmgr.models import ServiceKind

__all__ = ["Nginx", "main_config"]

DEFAULT_CONFIG = "/etc/nginx/nginx.conf"


def main_config(host: Host, config: str) -> str:
    """The nginx.conf that includes ``config`` (a slot's file is often a site file).

    ``nginx -c`` wants the main file: it is ``config`` itself when named
    nginx.conf, else the nearest nginx.conf in a parent directory
    (``/etc/nginx/sites-enabled/x`` -> ``/etc/nginx/nginx.conf``).
    """
    if posixpath.basename(config) == "nginx.conf":
        return config
    directory = posixpath.dirname(config)
    while directory not in ("", "/"):
        candidate = posixpath.join(directory, "nginx.conf")
        if host.exists(candidate):
            return candidate
        directory = posixpath.dirname(directory)
    return DEFAULT_CONFIG


class Nginx:
    kind: ClassVar[ServiceKind] = ServiceKind.NGINX
    style: ClassVar[str] = "nginx"
    reads_key_as_user: ClassVar[bool] = False  # the master reads it as root
    key_format: ClassVar[str] = KeyFormat.FULLCHAIN
    unit: ClassVar[str] = "nginx"
    settle: ClassVar[float] = 6.0

    def reload_method(self, control: ServiceControl) -> str:
        return f"nginx -t, then nginx -s reload (SIGHUP to the master; {control.describe('nginx')})"

    @staticmethod
    def _flag(host: WritableHost, plan: DeployPlan) -> list[str]:
        config = main_config(host, plan.target.config)
        return [] if config == DEFAULT_CONFIG else ["-c", config]

    def config_test(self, host: WritableHost, plan: DeployPlan) -> str | None:
        # nginx -t loads every certificate and key and checks that each pair matches.
        return run_test(host, ["nginx", *self._flag(host, plan), "-t", "-q"], "nginx -t")

    def reload(self, ctx: ReloadContext) -> str:
        flag = self._flag(ctx.host, ctx.plan)
        retest_before_signal(ctx, lambda: self.config_test(ctx.host, ctx.plan), "nginx",
                             "still runs the old configuration")
        # Rolling back always signals: nginx refuses a configuration it cannot load.
        return ctx.control.reload("nginx", ["nginx", *flag, "-s", "reload"], self.unit)
