"""Tomcat's TLS reload over JMX: ``reloadSslHostConfigs`` through the JDK attach API.

When the manager's ``sslReload`` cannot be used (no manager-script user in
tomcat-users.xml, or no manager application), a running Tomcat still reloads
its certificates without a restart if a client attaches to its JVM and invokes
``reloadSslHostConfigs`` on the ProtocolHandler MBean of each TLS connector.

The client is ``java/ReloadSsl.java``, shipped as package data and run with the
host's own ``java`` in source-file mode (Java 11+; Debian's JRE carries the
``jdk.compiler`` and ``jdk.attach`` modules it needs). Its source goes in on
stdin to a temp directory the run creates in /tmp and removes. It runs with the
uid and gid of the JVM's process, because HotSpot's attach listener accepts no
other client.

What to expect of it:

* The attach API sends SIGQUIT to start the JVM's attach listener, which would
  kill a process that is not a JVM: the pid is only used once ``ps`` says it
  is a ``java`` process.
* If the JVM's local management agent is not running, the client starts it.
  It stays up until the JVM exits and listens on an ephemeral port of every
  address, accepting connections from local addresses only (the JDK's
  ``jconsole`` agent); the result line says when it was started.
* When the JVM has a mount or network namespace of its own (systemd's
  PrivateTmp=yes, as Debian's tomcat10.service sets), the client runs in those
  namespaces (``nsenter``, as root), where its attach socket and agent are.
* A client run takes about 1 s (a JVM start plus an in-memory compile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from certmgr.errors import HostError, ReloadFailed

if TYPE_CHECKING:
    from certmgr.hosts.base import CommandResult, WritableHost
    from certmgr.programs.spec import ServiceControlView as ServiceControl

__all__ = ["JmxAttempt", "jmx_reload", "tomcat_jvm"]

# Exit statuses of ReloadSsl.java (see its header).
_OK, _UNUSABLE, _NO_HANDLER, _FAILED = 0, 20, 21, 22
# The client is short-lived: a small heap, no JIT tiers beyond C1, no hsperfdata file.
_JAVA_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
                 "-Xmx64m")
_RUN_TIMEOUT = 120.0
# The source launcher seeks in its file, so stdin (a pipe) will not do: the source goes
# to a directory of the client's own in /tmp for the run, removed right after it.
# Arguments: PID PORTS JAVA [OPTIONS...]; the exit status is the client's.
_IN_TEMP_DIR = """
d=$(mktemp -d /tmp/certmgr-jmx.XXXXXX) || exit 20
pid=$1 ports=$2
shift 2
if cat > "$d/ReloadSsl.java"; then
  "$@" "$d/ReloadSsl.java" "$pid" "$ports"
  rc=$?
else
  rc=20
fi
rm -f -- "$d/ReloadSsl.java"
rmdir -- "$d"
exit $rc
"""


@dataclass(frozen=True)
class JmxAttempt:
    """What the JMX step did: ``reloaded`` True, or why JMX could not be used here."""

    reloaded: bool
    detail: str


@dataclass(frozen=True)
class JvmProcess:
    """Tomcat's JVM on the host: its pid and the ids it runs with."""

    pid: int
    uid: int
    gid: int


def client_source() -> bytes:
    """The Java source of the attach client, as shipped in the package."""
    from importlib import resources

    return (resources.files("certmgr.programs.tomcat") / "java" / "ReloadSsl.java").read_bytes()


def jmx_reload(host: WritableHost, control: ServiceControl, ports: list[int], *,
               unit: str = "tomcat10", name: str = "tomcat",
               attach_timeout: float = 10.0) -> JmxAttempt:
    """Invoke ``reloadSslHostConfigs`` on the ProtocolHandlers of ``ports`` in Tomcat's JVM.

    Args:
        host: where Tomcat runs.
        control: the host's service control (Tomcat's pid comes from its service
            table entry, else from systemd's MainPID of ``unit``).
        ports: the TLS ports whose connectors reload.
        unit: Tomcat's systemd unit.
        name: Tomcat's name in the service table.
        attach_timeout: seconds the attach API waits for the JVM's attach listener.

    Returns:
        A :class:`JmxAttempt`: reloaded, or not usable here and why (the caller
        falls back to another way).

    Raises:
        ReloadFailed: the reload was invoked and Tomcat refused it (it keeps the
            TLS configuration it had).
    """
    if not ports:
        return JmxAttempt(False, "the slot has no TLS port to reload")
    java = host.which("java")
    if java is None:
        return JmxAttempt(False, f"no java on {host.name}")
    jvm = tomcat_jvm(host, control, unit=unit, name=name)
    if isinstance(jvm, str):
        return JmxAttempt(False, jvm)
    if (jvm.uid, jvm.gid) != (0, 0) and host.which("setpriv") is None:
        # setpriv takes numeric ids, so the JVM's own ids are used, whatever its user is named.
        return JmxAttempt(False, f"no setpriv on {host.name} to run as Tomcat's uid {jvm.uid}")
    port_list = ",".join(str(p) for p in sorted(set(ports)))
    client = [java, *_JAVA_OPTIONS,
              f"-Dsun.tools.attach.attachTimeout={int(attach_timeout * 1000)}"]
    argv = [*_namespaces_of(host, jvm), *_as_ids(jvm), "sh", "-c", _IN_TEMP_DIR, "sh",
            str(jvm.pid), port_list, *client]
    try:
        result = host.run(argv, input=client_source(), check=False, timeout=_RUN_TIMEOUT)
    except HostError as exc:
        return JmxAttempt(False, f"the JMX client did not run: {exc.message}")
    return _judge(result, jvm, port_list)


def _judge(result: CommandResult, jvm: JvmProcess, port_list: str) -> JmxAttempt:
    """Read the client's exit status and lines (see ReloadSsl.java's header)."""
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    summary = "; ".join(lines[-3:]) or _last_line(result.stderr) or "(no output)"
    if result.returncode == _OK:
        agent = (", starting the JVM's local management agent"
                 if any(line.startswith("AGENT") for line in lines) else "")
        return JmxAttempt(True, f"JMX reloadSslHostConfigs on port(s) {port_list} "
                                f"(Tomcat pid {jvm.pid}, as uid {jvm.uid}{agent})")
    if result.returncode == _FAILED:
        raise ReloadFailed(f"Tomcat (pid {jvm.pid}) refused reloadSslHostConfigs over JMX: "
                           f"{summary[:300]}; it keeps its old TLS configuration")
    if result.returncode == _NO_HANDLER:
        return JmxAttempt(False, f"JMX: {summary[:200]}")
    return JmxAttempt(False, f"JMX unusable (exit {result.returncode}): {summary[:200]}")


def tomcat_jvm(host: WritableHost, control: ServiceControl, *, unit: str = "tomcat10",
               name: str = "tomcat") -> JvmProcess | str:
    """Tomcat's running JVM, or why there is none to attach to."""
    pid = control.main_pid(name)
    if pid is None and control.entry(name) is None and control.systemd:
        result = host.run(["systemctl", "show", "-p", "MainPID", "--value", unit], check=False)
        pid = int(result.stdout.strip()) if result.stdout.strip().isdigit() else None
    if not pid:
        return "Tomcat's pid is not known (no pid file, no systemd MainPID)"
    jvm = _java_process(host, pid)
    if jvm is None:
        # A service manager may run a shell that starts the JVM as its child.
        children = host.run(["ps", "-o", "pid=", "--ppid", str(pid)], check=False)
        for child in children.stdout.split():
            jvm = _java_process(host, int(child)) if child.isdigit() else None
            if jvm is not None:
                break
    return jvm if jvm is not None else f"pid {pid} is not a running Java process"


def _java_process(host: WritableHost, pid: int) -> JvmProcess | None:
    # Only a JVM may get the attach API's SIGQUIT: for other programs it is fatal.
    result = host.run(["ps", "-o", "stat=,euid=,egid=,comm=", "-p", str(pid)], check=False)
    fields = result.stdout.split()
    if not result.ok or len(fields) != 4 or fields[0].startswith("Z"):
        return None
    _, uid, gid, comm = fields
    if comm != "java" or not (uid.isdigit() and gid.isdigit()):
        return None
    return JvmProcess(pid, int(uid), int(gid))


def _namespaces_of(host: WritableHost, jvm: JvmProcess) -> list[str]:
    """The prefix that enters the JVM's mount and network namespaces, if not the caller's.

    Debian's tomcat10.service has PrivateTmp=yes: the JVM's attach socket is in a /tmp
    of its own, which the attach API does not look for (it does so only across pid
    namespaces), and its local JMX agent listens in the JVM's network namespace.
    """
    ns = ("mnt", "net")
    links = [f"/proc/self/ns/{n}" for n in ns] + [f"/proc/{jvm.pid}/ns/{n}" for n in ns]
    result = host.run(["readlink", *links], check=False)
    seen = result.stdout.split()
    if not result.ok or len(seen) != len(links) or seen[:2] == seen[2:]:
        return []  # the same namespaces (or not ours to see: then not ours to enter either)
    return ["nsenter", f"--target={jvm.pid}", "--mount", "--net", "--"]


# Runs "$@" as uid:gid $1: directly if the caller already is that user (certmgr run by
# Tomcat's own user may not change its groups), else through setpriv.
_AS_IDS = ('ids=$1; shift; [ "$(id -u):$(id -g)" = "$ids" ] && exec "$@"; '
           'exec setpriv --reuid="${ids%:*}" --regid="${ids#*:}" --clear-groups "$@"')


def _as_ids(jvm: JvmProcess) -> list[str]:
    """The command prefix that runs as the JVM's uid and gid (HotSpot checks both)."""
    if jvm.uid == 0 and jvm.gid == 0:
        return []
    return ["sh", "-c", _AS_IDS, "sh", f"{jvm.uid}:{jvm.gid}"]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
