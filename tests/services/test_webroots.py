"""Discovery records where Apache and nginx answer plain HTTP (ACME http-01 tokens go
under that document root): real configuration trees, read through the host seam."""

from __future__ import annotations

from pathlib import Path

from certmgr.programs import ServiceKind
from certmgr.programs.base import WebRoot, web_root_for
from tests.services.treehelp import discover

APACHE = ("ServerRoot /etc/apache2\nListen 80\nListen 443\nDocumentRoot /srv/main\n"
          "IncludeOptional sites-enabled/*.conf\n")


def roots(tmp_path: Path, files: dict[str, str | bytes], kind: ServiceKind) -> list[WebRoot]:
    found = discover(tmp_path, files)
    service = found.service(kind)
    assert service is not None, found.findings
    return list(service.webroots)


def test_apache_vhosts_on_port_80_by_server_name_and_alias(tmp_path: Path) -> None:
    sites = {
        "/etc/apache2/sites-enabled/000-default.conf":
            "<VirtualHost *:80>\n  DocumentRoot /var/www/html\n</VirtualHost>\n",
        "/etc/apache2/sites-enabled/shop.conf":
            "<VirtualHost *:80>\n  ServerName shop.example.com\n"
            "  ServerAlias *.shop.example.com\n  DocumentRoot \"/srv/shop/\"\n</VirtualHost>\n",
        "/etc/apache2/sites-enabled/tls.conf":
            "<VirtualHost *:443>\n  ServerName shop.example.com\n  DocumentRoot /srv/tls\n"
            "  SSLEngine on\n  SSLCertificateFile /etc/ssl/a.pem\n</VirtualHost>\n"}
    found = roots(tmp_path, {"/etc/apache2/apache2.conf": APACHE, **sites},
                  ServiceKind.APACHE2)
    assert [(r.root, r.names, r.port, r.default) for r in found] == [
        ("/var/www/html", (), 80, True),
        ("/srv/shop", ("shop.example.com", "*.shop.example.com"), 80, False)]
    assert web_root_for(found, "shop.example.com").root == "/srv/shop"  # type: ignore[union-attr]
    assert web_root_for(found, "a.shop.example.com").root == "/srv/shop"  # type: ignore[union-attr]
    # a name no vhost claims goes to the port's first vhost, as Apache does
    assert web_root_for(found, "other.example.com").root == "/var/www/html"  # type: ignore[union-attr]
    assert web_root_for(found, "shop.example.com", port=443) is None


def test_apache_main_server_answers_when_no_vhost_listens(tmp_path: Path) -> None:
    found = roots(tmp_path, {"/etc/apache2/apache2.conf": APACHE + "ServerName main.example\n"},
                  ServiceKind.APACHE2)
    assert found == [WebRoot("/srv/main", ("main.example",), 80, True)]


def test_apache_without_plain_listener_has_no_web_root(tmp_path: Path) -> None:
    conf = "ServerRoot /etc/apache2\nListen 443\nDocumentRoot /srv/main\n"
    assert roots(tmp_path, {"/etc/apache2/apache2.conf": conf}, ServiceKind.APACHE2) == []


def test_nginx_servers_listening_without_tls(tmp_path: Path) -> None:
    conf = ("events {}\nhttp {\n  root /usr/share/nginx/html;\n"
            "  server {\n    listen 80;\n    server_name www.example.com .example.org;\n"
            "    root /srv/www;\n  }\n"
            "  server {\n    listen 192.0.2.1:80 default_server;\n  }\n"
            "  server {\n    listen 8080;\n    server_name acme.example.com;\n"
            "    location /.well-known/acme-challenge/ {\n      root /var/lib/acme;\n    }\n"
            "  }\n"
            "  server {\n    listen 443 ssl;\n    server_name www.example.com;\n"
            "    root /srv/tls;\n    ssl_certificate /etc/ssl/a.pem;\n  }\n}\n")
    found = roots(tmp_path, {"/etc/nginx/nginx.conf": conf}, ServiceKind.NGINX)
    assert [(r.root, r.names, r.port, r.default) for r in found] == [
        ("/srv/www", ("www.example.com", "example.org", "*.example.org"), 80, False),
        ("/usr/share/nginx/html", (), 80, True),
        ("/var/lib/acme", ("acme.example.com",), 8080, True)]
    assert web_root_for(found, "a.example.org").root == "/srv/www"  # type: ignore[union-attr]
    assert web_root_for(found, "x.example.net").root == "/usr/share/nginx/html"  # type: ignore[union-attr]
    assert web_root_for(found, "acme.example.com", 8080).root == "/var/lib/acme"  # type: ignore[union-attr]


TOMCAT = """<?xml version="1.0"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="8080" protocol="HTTP/1.1" />
    <Connector port="8009" protocol="AJP/1.3" />
    <Connector port="8443" SSLEnabled="true" scheme="https">
      <SSLHostConfig><Certificate certificateFile="conf/a.pem" /></SSLHostConfig>
    </Connector>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" />
      <Host name="shop.example.com" appBase="/srv/shop">
        <Alias>www.shop.example.com</Alias>
        <Context path="" docBase="store" />
      </Host>
      <Host name="api.example.com" appBase="${catalina.base}/api-apps" />
    </Engine>
  </Service>
</Server>
"""


def test_tomcat_root_webapp_per_host_on_plain_connectors(tmp_path: Path) -> None:
    found = roots(tmp_path, {"/etc/tomcat10/server.xml": TOMCAT}, ServiceKind.TOMCAT)
    assert [(r.root, r.names, r.port, r.default) for r in found] == [
        ("/var/lib/tomcat10/webapps/ROOT", ("localhost",), 8080, True),
        ("/srv/shop/store", ("shop.example.com", "www.shop.example.com"), 8080, False),
        ("/var/lib/tomcat10/api-apps/ROOT", ("api.example.com",), 8080, False)]
    assert web_root_for(found, "www.shop.example.com", 8080).root == "/srv/shop/store"  # type: ignore[union-attr]
    # a name no Host claims goes to the Engine's defaultHost
    default = web_root_for(found, "other.example.com", 8080)
    assert default is not None and default.root == "/var/lib/tomcat10/webapps/ROOT"
    # neither the AJP nor the TLS connector is a web root
    assert web_root_for(found, "shop.example.com", 8443) is None
    assert web_root_for(found, "shop.example.com", 8009) is None


def test_tomcat_catalina_base_from_default_file(tmp_path: Path) -> None:
    conf = TOMCAT.replace('port="8080"', 'port="80"')
    found = roots(tmp_path, {"/etc/tomcat9/server.xml": conf,
                             "/etc/default/tomcat9": "CATALINA_BASE=/opt/tc\n"},
                  ServiceKind.TOMCAT)
    assert web_root_for(found, "localhost").root == "/opt/tc/webapps/ROOT"  # type: ignore[union-attr]
    assert web_root_for(found, "api.example.com").root == "/opt/tc/api-apps/ROOT"  # type: ignore[union-attr]


def test_tomcat_with_only_tls_connectors_has_no_web_root(tmp_path: Path) -> None:
    conf = TOMCAT.replace('<Connector port="8080" protocol="HTTP/1.1" />', "")
    conf = conf.replace('<Connector port="8009" protocol="AJP/1.3" />', "")
    assert roots(tmp_path, {"/etc/tomcat10/server.xml": conf}, ServiceKind.TOMCAT) == []


HAPROXY = """global
    log /dev/log local0
defaults
    mode http
    default_backend apache
frontend www
    bind :80
    bind :::80 v6only
    acl is_shop hdr(host) -i shop.example.com www.shop.example.com
    acl is_api hdr_dom(host) -i api.example.com
    use_backend tomcat if is_shop
    use_backend remote if is_api
    use_backend tomcat if { req.hdr(host) -i inline.example.com }
    use_backend tomcat unless is_shop
frontend tls
    bind :443 ssl crt /etc/haproxy/site.pem
    default_backend tomcat
backend apache
    server a1 127.0.0.1:8081 check
backend tomcat
    server t1 10.9.9.9:8080
    server t2 127.0.0.1:8080 check
backend remote
    server r1 192.0.2.7:80
"""


def haproxy_tree() -> dict[str, str | bytes]:
    return {
        "/etc/haproxy/haproxy.cfg": HAPROXY,
        "/etc/tomcat10/server.xml": TOMCAT,
        "/etc/apache2/apache2.conf":
            "ServerRoot /etc/apache2\nListen 127.0.0.1:8081\nDocumentRoot /srv/main\n"
            "<VirtualHost 127.0.0.1:8081>\n  ServerName blog.example.com\n"
            "  DocumentRoot /srv/blog\n</VirtualHost>\n"}


def test_haproxy_routes_port_80_by_host_acl_to_the_local_server_behind(tmp_path: Path) -> None:
    found = discover(tmp_path, haproxy_tree())
    proxy = found.service(ServiceKind.HAPROXY)
    assert proxy is not None, found.findings
    assert [(r.names, r.port, r.default, r.upstream) for r in proxy.webroots] == [
        (("shop.example.com", "www.shop.example.com"), 80, False, (("127.0.0.1", 8080),)),
        (("api.example.com", "*.api.example.com"), 80, False, ()),
        (("inline.example.com",), 80, False, (("127.0.0.1", 8080),)),
        ((), 80, True, (("127.0.0.1", 8081),))]
    every = [r for s in found.services for r in s.webroots]

    def root_of(name: str) -> str | None:
        root = web_root_for(every, name)
        return root.root if root is not None else None

    # use_backend by the host ACL: Tomcat behind, its Host for the name
    assert root_of("www.shop.example.com") == "/srv/shop/store"
    assert root_of("inline.example.com") == "/var/lib/tomcat10/webapps/ROOT"
    # default_backend (from defaults): Apache on 127.0.0.1:8081, its vhost for the name
    assert root_of("blog.example.com") == "/srv/blog"
    assert root_of("other.example.com") == "/srv/blog"  # the port's first vhost
    # a backend on another host: haproxy answers, but no web root is on this host
    assert root_of("x.api.example.com") is None


def test_haproxy_listen_section_forwards_to_its_own_servers(tmp_path: Path) -> None:
    files = haproxy_tree()
    files["/etc/haproxy/haproxy.cfg"] = ("defaults\n    mode http\n"
                                         "listen web\n    bind 0.0.0.0:80\n"
                                         "    server t 127.0.0.1:8080\n")
    found = discover(tmp_path, files)
    every = [r for s in found.services for r in s.webroots]
    root = web_root_for(every, "shop.example.com")
    assert root is not None and root.root == "/srv/shop/store"


def test_haproxy_to_nothing_known_gives_no_web_root(tmp_path: Path) -> None:
    conf = "defaults\n    mode http\nfrontend f\n    bind :80\n    default_backend b\n" \
           "backend b\n    server s 127.0.0.1:9000\n"
    found = discover(tmp_path, {"/etc/haproxy/haproxy.cfg": conf})
    every = [r for s in found.services for r in s.webroots]
    assert [r.upstream for r in every] == [(("127.0.0.1", 9000),)]
    assert web_root_for(every, "www.example.com") is None
