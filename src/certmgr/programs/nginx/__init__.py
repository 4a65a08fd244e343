"""nginx: discovery through crossplane; ``nginx -t``, then a reload: SIGHUP to the master
(full chain in the certificate file).

On SIGHUP the master tests the new configuration itself and, if it fails,
keeps serving with the old one: a reload never takes nginx down, but it also
cannot say that the new key was refused. So the reload runs ``nginx -t`` first
and signals only a configuration that loads; verify then proves the new chain
is served.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from certmgr.programs.spec import (
    ConfigTest,
    KeyFormat,
    ProgramSpec,
    ReloadContext,
    ServiceControlView,
)
from certmgr.programs.styles import LineStyle
from certmgr.programs.tools import retest_before_signal

if TYPE_CHECKING:
    from certmgr.hosts.base import Host

__all__ = ["SPEC", "STYLE", "Nginx", "main_config"]

# ssl_certificate /path;
STYLE = LineStyle("nginx", r"(?m)(?P<lead>\b{d}[ \t]+)(?P<value>[^;\s]+)")

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


def _flag(host: Host, config: str) -> list[str]:
    main = main_config(host, config)
    return [] if main == DEFAULT_CONFIG else ["-c", main]


def _test_argv(host: Host, config: str) -> list[str]:
    # nginx -t loads every certificate and key and checks that each pair matches.
    return ["nginx", *_flag(host, config), "-t", "-q"]


class Nginx(ProgramSpec):
    name: ClassVar[str] = "nginx"
    title: ClassVar[str] = "nginx"
    seed_dir: ClassVar[str | None] = "/etc/nginx"
    style: ClassVar[LineStyle] = STYLE
    new_lines: ClassVar[Mapping[str, str]] = {"key": "ssl_certificate_key {path};"}
    reads_key_as_user: ClassVar[bool] = False  # the master reads it as root
    key_format: ClassVar[str] = KeyFormat.FULLCHAIN
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/sbin/nginx",)
    config_test_spec: ClassVar[ConfigTest | None] = ConfigTest(
        "nginx", "nginx -t", _test_argv,
        (re.compile(r"\[emerg\] (?:\d+#\d+: )?(?P<msg>.*?) in (?P<path>/\S+?):(?P<line>\d+)"),))
    unit: ClassVar[str] = "nginx"

    def reload_method(self, control: ServiceControlView) -> str:
        return f"nginx -t, then nginx -s reload (SIGHUP to the master; {control.describe('nginx')})"

    def reload(self, ctx: ReloadContext) -> str:
        flag = _flag(ctx.host, ctx.plan.target.config)
        retest_before_signal(ctx, lambda: self.config_test(ctx.host, ctx.plan), "nginx",
                             "still runs the old configuration")
        # Rolling back always signals: nginx refuses a configuration it cannot load.
        return ctx.control.reload("nginx", ["nginx", *flag, "-s", "reload"], self.unit)


SPEC = Nginx()
