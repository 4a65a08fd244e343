"""nginx's configuration test and reload name the main nginx.conf, not the slot's site file."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.hosts.local import LocalHost
from certmgr.programs.nginx import DEFAULT_CONFIG, main_config


@pytest.fixture
def host(tmp_path: Path) -> LocalHost:
    for rel in ("etc/nginx/nginx.conf", "etc/nginx/sites-enabled/www",
                "opt/web/conf/nginx.conf", "opt/web/conf/vhosts/shop/shop.conf",
                "srv/lonely/site.conf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# nginx\n")
    return LocalHost(root=tmp_path)


@pytest.mark.parametrize(("slot_config", "main"), [
    ("/etc/nginx/nginx.conf", "/etc/nginx/nginx.conf"),
    ("/etc/nginx/sites-enabled/www", "/etc/nginx/nginx.conf"),
    # a build with its own prefix: the nearest nginx.conf above the included file
    ("/opt/web/conf/vhosts/shop/shop.conf", "/opt/web/conf/nginx.conf"),
    ("/opt/web/conf/nginx.conf", "/opt/web/conf/nginx.conf"),
    # nothing above it: Debian's default, never the site file itself
    ("/srv/lonely/site.conf", DEFAULT_CONFIG),
])
def test_main_config_is_the_nginx_conf_that_includes_the_slot(
        host: LocalHost, slot_config: str, main: str) -> None:
    assert main_config(host, slot_config) == main
