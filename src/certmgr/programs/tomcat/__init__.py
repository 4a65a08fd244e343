"""Tomcat: discovery of server.xml connectors; keystore checked by us; reload by the
manager's sslReload, else JMX, else restart.

The reload takes the first way that works: the manager's ``sslReload`` with
tomcat-users.xml's manager-script user; else ``reloadSslHostConfigs`` over JMX,
attached to Tomcat's JVM as its user (:mod:`certmgr.programs.tomcat.jmx`);
else the service table's reload command; else a restart.

Tomcat's own ``configtest`` exits 0 with a wrong keystore password and JSSE
accepts a mismatched PEM pair, so the config test opens the installed keystore
(or PEM files) with server.xml's password and alias and checks the pair itself,
then runs ``configtest`` and fails on its SEVERE records.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, ClassVar

from certmgr.errors import CertmgrError, HostError, ReloadFailed
from certmgr.programs.spec import (
    KeyFormat,
    PlanView,
    ProgramSpec,
    ReloadContext,
    ServiceControlView,
)
from certmgr.programs.styles import LineStyle
from certmgr.programs.tomcat.jmx import jmx_reload

if TYPE_CHECKING:
    import ssl

    from certmgr.hosts.base import WritableHost

__all__ = ["SPEC", "STYLE", "Tomcat"]

# server.xml:  certificateFile="/path"  (the attribute may be lines below its element's start)
STYLE = LineStyle(
    "xml", r"""(?s)(?P<lead>\b{d}[ \t\r\n]*=[ \t\r\n]*(?P<q>["']))(?P<value>.*?)(?P=q)""",
    multiline=True, xml_escape=True)

_WILDCARDS = ("*", "0.0.0.0", "::", "")  # noqa: S104 - listen addresses we compare, never bind


class Tomcat(ProgramSpec):
    name: ClassVar[str] = "tomcat"
    title: ClassVar[str] = "Tomcat"
    # No fixed directory: its files go next to the server.xml it reads.
    seed_dir: ClassVar[str | None] = None
    style: ClassVar[LineStyle] = STYLE
    reads_key_as_user: ClassVar[bool] = True
    key_format: ClassVar[str] = KeyFormat.KEYSTORE
    default_key_alias: ClassVar[str | None] = "tomcat"  # keyAlias's default
    config_holds_secrets: ClassVar[bool] = True  # keystore passwords in server.xml
    # Its JVM reads the files (no profile of Debian's attaches to a binary of its own).
    apparmor_binaries: ClassVar[tuple[str, ...]] = ()
    unit: ClassVar[str] = "tomcat10"
    # Its ports refuse connections for the seconds a restart takes (a JVM start).
    settle: ClassVar[float] = 90.0

    def reload_method(self, control: ServiceControlView) -> str:
        return ("manager sslReload with tomcat-users.xml's manager-script user, else JMX "
                "reloadSslHostConfigs attached to Tomcat's JVM as its user, else "
                f"{control.describe('tomcat')}'s reload, else restart (restart when "
                "server.xml is edited)")

    def config_test(self, host: WritableHost, plan: PlanView) -> str | None:
        from certmgr.pki import keys_match, load_bundle

        t = plan.target
        files = {f.role: f.spec.path for f in plan.files}
        try:
            if "keystore" in files:
                bundle = load_bundle(_read_key_file(host, files["keystore"]), t.password,
                                     source=files["keystore"], alias=t.key_alias)
            else:
                data = (_read_key_file(host, files["cert"]) + b"\n"
                        + _read_key_file(host, files["key"]))
                bundle = load_bundle(data, t.password, source=files["key"])
        except CertmgrError as exc:
            return f"Tomcat could not open its new credential: {exc.message}"
        if bundle.key is None or bundle.leaf is None:
            return "the installed Tomcat credential has no readable key and certificate"
        if not keys_match(bundle.leaf, bundle.key):
            return "the installed Tomcat key does not match its certificate"
        return _configtest(host, t.user)

    def reload(self, ctx: ReloadContext) -> str:
        if ctx.config_changed:
            # sslReload re-reads the files at the paths Tomcat already has; new paths in
            # server.xml are read only at start-up.
            return ctx.control.restart("tomcat", self.unit)
        manager = self._manager_reload(ctx)
        if manager is not None:
            return manager
        ports = sorted({e.port for e in ctx.plan.target.endpoints})
        jmx = jmx_reload(ctx.host, ctx.control, ports, unit=self.unit)
        if jmx.reloaded:
            return jmx.detail
        entry = ctx.control.entry("tomcat")
        if entry is not None and entry.reload is not None:
            done = ctx.control.reload("tomcat", list(entry.reload), self.unit)
        else:
            done = ctx.control.restart("tomcat", self.unit)
        return f"{done} (no JMX reload: {jmx.detail})"

    def _manager_reload(self, ctx: ReloadContext) -> str | None:
        """GET /manager/text/sslReload; None when the manager is not usable here."""
        import base64
        import http.client
        import ssl

        from certmgr.models import TlsMode

        creds = _manager_credentials(ctx.host, ctx.plan.target.config)
        endpoint = next((e for e in ctx.plan.target.endpoints if e.tls is TlsMode.DIRECT), None)
        if creds is None or endpoint is None:
            return None
        address = ctx.host.address if endpoint.address in _WILDCARDS else endpoint.address
        if address is None:
            return None
        host = f"[{address}]" if ":" in address else address
        url = f"https://{host}:{endpoint.port}/manager/text/sslReload"
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        context = ssl.create_default_context()
        # The endpoint serves the certificate being replaced: it is not trusted yet.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            status, body = _get(address, endpoint.port, "/manager/text/sslReload",
                                {"Authorization": f"Basic {token}"}, context)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return None
        if status in (401, 403, 404):
            return None  # no manager, or not this user: try the next way
        if not 200 <= status < 300:
            raise ReloadFailed(f"Tomcat's sslReload at {url} answered HTTP {status}; "
                               "the old TLS configuration stays loaded")
        if not body.startswith("OK"):
            raise ReloadFailed(f"Tomcat's sslReload at {url} failed: {body.strip()[:200]}")
        return f"manager sslReload at {url}"


def _read_key_file(host: WritableHost, path: str) -> bytes:
    """An installed key or keystore, read with no symlink followed (as deploy reads keys)."""
    found = host.read_link_free(path)
    if found is None:
        raise HostError(f"{path} does not exist", path=path, host=host.name)
    return found[0]


def _manager_credentials(host: WritableHost, server_xml: str) -> tuple[str, str] | None:
    """The first user with the manager-script role in tomcat-users.xml next to server.xml."""
    from xml.etree import ElementTree

    path = posixpath.join(posixpath.dirname(server_xml), "tomcat-users.xml")
    try:
        root = ElementTree.fromstring(host.read_bytes(path, limit=1 << 20))  # noqa: S314 - the admin's own file
    except (HostError, ElementTree.ParseError):
        return None
    for user in root.iter():
        if not user.tag.endswith("user"):
            continue
        roles = {r.strip() for r in user.get("roles", "").split(",")}
        if "manager-script" in roles and user.get("username") and user.get("password"):
            return user.get("username", ""), user.get("password", "")
    return None


_ENV_KEPT = ("CATALINA_HOME", "CATALINA_BASE", "JAVA_HOME", "CATALINA_TMPDIR", "JAVA_OPTS")
_RECORD_START = re.compile(r"^(\w{3} \d{1,2}, \d{4} |\d{2}-\w{3}-\d{4} |(INFO|WARNING|FINE):)")


def _configtest(host: WritableHost, user: str) -> str | None:
    """``catalina.sh configtest`` with the running Tomcat's environment, as its user.

    Its exit status is 0 even with a wrong keystore password, so SEVERE records are
    what counts. While Tomcat runs, configtest cannot bind the live ports: those
    SEVERE records (BindException) say nothing about the new files and are ignored.
    Without a running Tomcat to take the environment from, only the keystore check
    above is made.
    """
    env = _tomcat_env(host)
    if "CATALINA_HOME" not in env:
        return None
    wrapper: list[str] = []
    if user != "root":
        wrapper = (["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
                   if host.which("setpriv") else ["runuser", "-u", user, "--"])
    argv = [*wrapper, "env", *(f"{k}={v}" for k, v in env.items()), "sh",
            posixpath.join(env["CATALINA_HOME"], "bin/catalina.sh"), "configtest"]
    result = host.run(argv, check=False, timeout=180)
    severe = [b for b in _severe_records(result.stdout + "\n" + result.stderr)
              if "BindException" not in b]
    if severe:
        first = " | ".join(line.strip() for line in severe[0].splitlines()[:3])
        return f"Tomcat's configtest reported {len(severe)} SEVERE problem(s): {first}"
    return None


def _tomcat_env(host: WritableHost) -> dict[str, str]:
    from certmgr.hosts.servicetable import load_service_table, read_pid_file

    # The main pid the host's service table knows (deploy's ServiceControl.main_pid).
    table = load_service_table(host)
    entry = table.find("tomcat") if table is not None else None
    pid = (read_pid_file(host, entry) or entry.pid) if entry is not None else None
    if pid is None:
        return {}
    try:
        raw = host.read_bytes(f"/proc/{pid}/environ", limit=1 << 20)
    except HostError:
        return {}
    pairs = (item.split("=", 1) for item in raw.decode(errors="replace").split("\0")
             if "=" in item)
    return {k: v for k, v in pairs if k in _ENV_KEPT}


def _severe_records(output: str) -> list[str]:
    records: list[str] = []
    current: list[str] | None = None
    for line in output.splitlines():
        if "SEVERE" in line:
            current = [line]
            records.append("")
        elif _RECORD_START.match(line):
            current = None
        elif current is not None:
            current.append(line)
        if current is not None:
            records[-1] = "\n".join(current)
    return records


SPEC = Tomcat()

_MANAGER_DEADLINE = 30.0


def _get(address: str, port: int, path: str, headers: dict[str, str],
         context: ssl.SSLContext) -> tuple[int, str]:
    """One HTTPS GET, done within :data:`_MANAGER_DEADLINE` seconds in all (not per read)."""
    import http.client

    from certmgr.deadline import Deadline

    conn = http.client.HTTPSConnection(address, port, timeout=_MANAGER_DEADLINE,
                                       context=context)
    with Deadline(_MANAGER_DEADLINE) as deadline:
        # http.client opens its socket through this attribute: the deadline watches it.
        conn._create_connection = deadline.connect  # type: ignore[attr-defined]
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read(4096).decode(errors="replace")
        finally:
            conn.close()
