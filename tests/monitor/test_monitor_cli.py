"""``certmgr monitor`` and ``certmgr notify test`` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from certmgr.issuers.definitions import make_definition
from certmgr.issuers.store import init_builtin_ca
from certmgr.monitor.renewal import issue_with_issuer
from certmgr.repository import CertificateRecord, DeploymentState, Repository, open_repository
from certmgr.testing.notify_servers import MailServer, WebhookReceiver
from certmgr.testing.tls_endpoint import TlsEndpoint, server_context
from tests.conftest import run_cli


def context_for(repo: Repository, cert: CertificateRecord):  # type: ignore[no-untyped-def]
    assert cert.key_ref is not None
    key = repo.load_private_key(cert.key_ref, reason="test endpoint")
    return server_context((cert.cert_pem + cert.chain_pem).encode(), key)


@dataclass
class Site:
    home: Path
    endpoint: TlsEndpoint
    hook: WebhookReceiver
    stranger: object  # an SSLContext serving a certificate certmgr did not deploy there

    def configure(self, extra: str = "") -> None:
        (self.home / "monitor.toml").write_text(
            "[monitor]\nexpiry_warning = \"7d\"\nprobe_timeout = \"5s\"\n\n"
            f"[[notify.webhook]]\nname = \"ops\"\nurl = \"{self.hook.url}\"\n{extra}")


@pytest.fixture
def site(home: Path) -> Iterator[Site]:
    with open_repository(None, home) as repo, WebhookReceiver() as hook:
        init_builtin_ca(repo)
        definition = repo.save_definition(make_definition(
            "www", "www.example.com", validity=timedelta(days=30),
            renew_before=timedelta(days=10), targets=("local/nginx-www",)))
        first = issue_with_issuer(repo)(definition)
        other = issue_with_issuer(repo)(repo.save_definition(
            make_definition("other", "www.example.com")))
        stranger = context_for(repo, other)
        with TlsEndpoint(context_for(repo, first)) as endpoint:
            repo.save_discovery("local", [{
                "kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root",
                "slots": [{"id": "nginx-www", "config": "/etc/nginx/sites-enabled/www",
                           "names": ["www.example.com"],
                           "endpoints": [{"address": "127.0.0.1", "port": endpoint.port,
                                          "tls": "direct", "sni": "www.example.com"}],
                           "cert": "/etc/nginx/ssl/certs/www.crt",
                           "key": "/etc/nginx/ssl/private/www.key", "chain": None,
                           "ca": None, "keystore": None, "keystore_type": None}]}])
            deployment = repo.create_deployment("www", first.version, "local/nginx-www")
            repo.update_deployment(deployment.id, DeploymentState.VERIFIED)
            s = Site(home, endpoint, hook, stranger)
            s.configure()
            yield s


def test_once_json_healthy(cli: CliRunner, site: Site) -> None:
    code, out, err = run_cli(cli, "monitor", "--once", "--json", "--no-renew")
    assert code == 0, err
    data = json.loads(out)
    [endpoint] = data["endpoints"]
    assert endpoint["ok"] and endpoint["drift"] is False and endpoint["findings"] == []
    assert endpoint["target"] == f"127.0.0.1:{site.endpoint.port}"
    assert [c["definition"] for c in data["certificates"]] == ["other", "www"]
    assert data["problems"] == [] and data["notifications"] == []


def test_once_drift_exits_1_and_notifies(cli: CliRunner, site: Site) -> None:
    site.endpoint.serve(site.stranger)  # type: ignore[arg-type]
    code, out, _ = run_cli(cli, "monitor", "--no-renew")
    assert code == 1
    assert "drift" in out and "DRIFT" in out
    [post] = site.hook.wait_for(1)
    assert post["event"] == "drift" and post["state"] == "problem"
    code, _, _ = run_cli(cli, "monitor", "--no-renew")
    assert code == 1 and len(site.hook.posts) == 1  # de-duplicated across runs


def test_failed_notice_is_reported(cli: CliRunner, site: Site) -> None:
    site.endpoint.serve(site.stranger)  # type: ignore[arg-type]
    site.hook.status = 500
    code, out, _ = run_cli(cli, "monitor", "--once", "--json", "--no-renew")
    assert code == 1
    [notice] = json.loads(out)["notifications"]
    assert not notice["ok"] and "HTTP 500" in notice["error"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--once", "--watch"], "exclude each other"),
    (["--watch", "--json"], "--json prints one pass"),
    (["--interval", "soon"], "--interval 'soon' is not a duration"),
    (["--metrics-listen", "0.0.0.0:9464"], "only loopback"),
    (["--config", "/nonexistent/monitor.toml"], "no such monitor configuration file"),
])
def test_bad_usage_exits_2(cli: CliRunner, home: Path, args: list[str], needle: str) -> None:
    code, out, err = run_cli(cli, "monitor", *args)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1


def test_notify_test(cli: CliRunner, site: Site) -> None:
    code, out, _ = run_cli(cli, "notify", "test", "--json")
    assert code == 0
    assert json.loads(out) == {"notifications": [
        {"channel": "ops", "state": "test", "event": "test", "subject": "notification test",
         "ok": True, "error": None}]}
    assert site.hook.wait_for(1)[0]["state"] == "test"
    site.hook.status = 503
    code, _, err = run_cli(cli, "notify", "test")
    assert code == 1 and "ops: FAILED" in err


def test_notify_test_without_channels(cli: CliRunner, home: Path) -> None:
    code, _, err = run_cli(cli, "notify", "test")
    assert code == 2 and "no notification channel configured" in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_until(url: str, needle: str, deadline: float) -> str:
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                text = response.read().decode()
            if needle in text:
                return text
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared at {url}; last scrape:\n{text}")


def test_watch_serves_metrics_and_stops_on_sigterm(site: Site) -> None:
    site.endpoint.serve(site.stranger)  # type: ignore[arg-type]
    port = free_port()
    env = {**os.environ, "CERTMGR_HOME": str(site.home)}
    env.pop("CERTMGR_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "certmgr", "monitor", "--watch", "--interval", "1s",
         "--metrics-listen", f"127.0.0.1:{port}", "--no-renew"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = scrape_until(f"http://127.0.0.1:{port}/metrics",
                            "certmgr_endpoint_drift{", time.monotonic() + 60)
        labels = f'host="local",target="127.0.0.1:{site.endpoint.port}"'
        assert f"certmgr_endpoint_drift{{{labels}}} 1.0" in text
        assert 'certmgr_certificate_days_left{definition="www"}' in text
        site.hook.wait_for(1, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == ""
    assert "monitor stopped" in err and "pass:" in err
    assert [e[:2] for e in site.hook.events()] == [("problem", "drift")]


UNIT = Path(__file__).resolve().parents[2] / "contrib" / "certmgr-monitor.service"


def test_systemd_unit_runs_watch_and_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text()
    [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert exec_start.split()[1:4] == ["monitor", "--watch", "--metrics-listen"]
    assert "ProtectSystem=true" in text  # full/strict would make /etc, the deploy target, RO
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    certmgr = Path(sys.executable).with_name("certmgr")
    unit = tmp_path / "certmgr-monitor.service"
    unit.write_text(text.replace("/usr/local/bin/certmgr", str(certmgr)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_email_channel_from_monitor_toml(cli: CliRunner, site: Site, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    password = tmp_path / "smtp-password"
    password.write_text("s3cret\n")
    password.chmod(0o600)  # a password file others may read is refused
    with MailServer(server_ctx, users={"certmgr": "s3cret"}) as mail:
        site.configure(f"\n[[notify.email]]\nname = \"ops-mail\"\nhost = \"127.0.0.1\"\n"
                       f"port = {mail.port}\nusername = \"certmgr\"\n"
                       f"password_file = \"{password}\"\nca_file = \"{ca_file}\"\n"
                       "from = \"certmgr@example.com\"\nto = [\"ops@example.com\"]\n")
        site.endpoint.serve(site.stranger)  # type: ignore[arg-type]
        code, out, _ = run_cli(cli, "monitor", "--once", "--json", "--no-renew")
        [received] = mail.wait_for(1)
    assert code == 1
    channels = {n["channel"]: n["ok"] for n in json.loads(out)["notifications"]}
    assert channels == {"ops-mail": True, "ops": True}
    assert received.tls and received.user == "certmgr"
    assert b"Subject: [certmgr] ERROR drift: endpoint local 127.0.0.1:" in received.data


# -- secrets never printed (issue 14: items 2, 12 and the class) ------------------------

SECRETS = {
    "webhook userinfo": "hookpw-9a8b7c",
    "header token": "hdrtoken-5d6e7f",
    "secret url path": "pathsecret-1q2w3e",
    "secret url query": "querysecret-4r5t6y",
    "smtp password": "smtppw-6y7u8i",
    "keystore password": "kspass-0o9i8u",
    "db url password": "dbpw-1z2x3c",
    "passphrase": "phrase-7h8j9k",
}


def _secret_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_webhook_userinfo_is_basic_auth_and_never_printed(cli: CliRunner, site: Site) -> None:
    url = site.hook.url.replace("://", "://certmgr:hookpw-9a8b7c@")
    (site.home / "monitor.toml").write_text(
        f"[[notify.webhook]]\nname = \"ops\"\nurl = \"{url}\"\n")
    code, out, err = run_cli(cli, "notify", "test", "--json")
    assert code == 0, err
    assert json.loads(out)["notifications"][0]["ok"] is True
    import base64

    assert site.hook.headers[0]["Authorization"] == \
        "Basic " + base64.b64encode(b"certmgr:hookpw-9a8b7c").decode()
    site.hook.status = 500
    site.endpoint.serve(site.stranger)  # type: ignore[arg-type]  # a drift to tell
    for args in (["notify", "test", "--json"], ["notify", "test"],
                 ["monitor", "--once", "--no-renew"], ["monitor", "--once", "--json"]):
        code, out, err = run_cli(cli, *args)
        assert code == 1 and "HTTP 500" in out + err
        assert "hookpw" not in out + err and "secret-token-path" not in out + err


def test_planted_secrets_are_never_printed(cli: CliRunner, site: Site, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    headers = _secret_file(tmp_path / "headers", f"X-Api-Key: {SECRETS['header token']}\n")
    smtp_pw = _secret_file(tmp_path / "smtp-pw", SECRETS["smtp password"] + "\n")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = closed.getsockname()[1]
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{site.hook.port}/hook/"
                       f"{SECRETS['secret url path']}?sig={SECRETS['secret url query']}")
    monkeypatch.setenv("CERTMGR_PASSPHRASE", SECRETS["passphrase"])
    hookpw = SECRETS["webhook userinfo"]
    outputs: list[str] = []
    with MailServer(None, users={"certmgr": "another password"}) as mail:
        (site.home / "monitor.toml").write_text(
            f"[[notify.webhook]]\nname = \"ops\"\nurl = \"http://u:{hookpw}@127.0.0.1:"
            f"{site.hook.port}/hook/x\"\nheaders_file = \"{headers}\"\n\n"
            f"[[notify.webhook]]\nname = \"env\"\nurl_env = \"HOOK_URL\"\n\n"
            f"[[notify.webhook]]\nname = \"down\"\nurl = \"http://u:{hookpw}@127.0.0.1:{down}"
            f"/{SECRETS['secret url path']}\"\ntimeout = 2\n\n"
            f"[[notify.email]]\nname = \"mail\"\nhost = \"127.0.0.1\"\nport = {mail.port}\n"
            "security = \"none\"\nfrom = \"certmgr@example.com\"\nto = [\"ops@example.com\"]\n")
        site.endpoint.serve(site.stranger)  # type: ignore[arg-type]
        for args in (["monitor", "--once", "--json", "--no-renew"],
                     ["monitor", "--once", "-v", "--no-renew"],
                     ["notify", "test", "--json"], ["notify", "test"]):
            code, out, err = run_cli(cli, *args)
            assert code == 1, err  # "down" fails: its error line is printed too
            outputs += [out, err]
        outputs += [m.data.decode() for m in mail.messages]
    # SMTP login refused: the error names the user, never the password.
    (site.home / "monitor.toml").write_text(
        f"[[notify.email]]\nname = \"mail\"\nhost = \"127.0.0.1\"\nport = {down}\n"
        f"username = \"certmgr\"\npassword_file = \"{smtp_pw}\"\nsecurity = \"tls\"\n"
        "from = \"certmgr@example.com\"\nto = [\"ops@example.com\"]\ntimeout = 2\n")
    outputs += list(run_cli(cli, "notify", "test", "--json")[1:])
    # The notices as the receivers got them (bodies; the header token is sent as a header).
    outputs.append(json.dumps(site.hook.posts))
    assert any(h.get("X-Api-Key") == SECRETS["header token"] for h in site.hook.headers)
    # Keystore password: from a 0600 file, and (with a warning) on the command line.
    ks_pw = _secret_file(tmp_path / "ks-pw", SECRETS["keystore password"] + "\n")
    run_cli(cli, "ca", "init")
    run_cli(cli, "define", "kw", "--cn", "kw.example.com")
    run_cli(cli, "issue", "kw")
    for password in (["--password-file", str(ks_pw)],
                     ["--password", SECRETS["keystore password"]]):
        code, out, err = run_cli(cli, "export", "kw", "--format", "jks", *password, "--out",
                                 str(tmp_path / f"ks{len(outputs)}"), "--json")
        outputs += [out, err]
    assert "visible to every user in ps" in outputs[-1]
    # A database URL's password in an error line.
    outputs += list(run_cli(cli, "--db", f"postgresql://bob:{SECRETS['db url password']}@"
                            "127.0.0.1:1/db", "list")[1:])
    # Metrics: the exposition text passes through the same redaction.
    from certmgr.monitor.metrics import EndpointStatus, MonitorMetrics

    metrics = MonitorMetrics()
    metrics.update([EndpointStatus(f"h:{SECRETS['passphrase']}", "127.0.0.1:443", False,
                                   datetime.now(UTC), error=hookpw)], [], at=datetime.now(UTC))
    outputs.append(metrics.render().decode())
    text = "\n".join(outputs)
    leaked = {what: value for what, value in SECRETS.items() if value in text}
    assert leaked == {}, leaked
    assert "did not finish" in text or "connection refused" in text  # errors were printed


def test_notify_test_ends_within_the_channels_deadline(cli: CliRunner, home: Path) -> None:
    from certmgr.testing.notify_servers import SlowDripServer

    home.mkdir(parents=True, exist_ok=True)
    with SlowDripServer(0.5) as web, SlowDripServer(0.5, SlowDripServer.SMTP_DRIP) as smtp:
        (home / "monitor.toml").write_text(
            f"[[notify.webhook]]\nname = \"slow-hook\"\nurl = \"{web.url}\"\ntimeout = 2\n\n"
            f"[[notify.email]]\nname = \"slow-mail\"\nhost = \"127.0.0.1\"\nport = {smtp.port}\n"
            "security = \"none\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n"
            "timeout = 2\n")
        t0 = time.monotonic()
        code, out, _ = run_cli(cli, "notify", "test", "--json")
        took = time.monotonic() - t0
    assert code == 1 and took < 3.5  # both cut off at 2 s, side by side
    errors = {n["channel"]: n["error"] for n in json.loads(out)["notifications"]}
    assert all("did not finish within 2s" in e for e in errors.values()), errors
