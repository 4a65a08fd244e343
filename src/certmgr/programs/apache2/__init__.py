"""Apache 2.4: discovery of its vhosts; ``apache2ctl -t``, then a graceful restart."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from certmgr.programs.spec import ConfigTest, ProgramSpec, ReloadContext, ServiceControlView
from certmgr.programs.styles import SPACE, LineStyle

__all__ = ["SPEC", "Apache2"]


class Apache2(ProgramSpec):
    name: ClassVar[str] = "apache2"
    title: ClassVar[str] = "Apache"
    seed_dir: ClassVar[str | None] = "/etc/apache2"
    style: ClassVar[LineStyle] = SPACE
    new_lines: ClassVar[Mapping[str, str]] = {"key": "SSLCertificateKeyFile {path}",
                                              "chain": "SSLCertificateChainFile {path}",
                                              "ca": "SSLCACertificateFile {path}"}
    apparmor_binaries: ClassVar[tuple[str, ...]] = ("/usr/sbin/apache2", "/usr/sbin/httpd")
    # "Syntax OK" says nothing about the key pair: preflight checked that already.
    config_test_spec: ClassVar[ConfigTest | None] = ConfigTest(
        "apache2ctl", "Apache's configuration test", lambda _host, _config: ["apache2ctl", "-t"],
        (re.compile(r"Syntax error on line (?P<line>\d+) of (?P<path>/[^:\s]+):\s*(?P<msg>.*)",
                    re.DOTALL),))
    unit: ClassVar[str] = "apache2"

    def reload_method(self, control: ServiceControlView) -> str:
        return f"graceful restart ({control.describe('apache2')})"

    def reload(self, ctx: ReloadContext) -> str:
        return ctx.control.reload("apache2", ["apache2ctl", "graceful"], self.unit)


SPEC = Apache2()
