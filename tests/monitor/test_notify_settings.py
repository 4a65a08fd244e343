"""``<home>/monitor.toml``: values, defaults, secrets from files/env, and errors naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from certmgr.errors import InputError, UsageError
from certmgr.monitor.settings import (
    format_duration,
    load_settings,
    parse_duration,
    parse_listen,
)

FULL = """
[monitor]
interval = "30s"
expiry_warning = "14d"
repeat = "12h"
metrics_listen = "127.0.0.1:9464"
history = 20

[renewal]
notify = false
retry_base = "10s"
retry_max = "1h"
jitter = 0.25

[[notify.email]]
name = "ops"
host = "smtp.example.com"
from = "certmgr@example.com"
to = ["ops@example.com"]
username = "certmgr"
password_file = "{pw}"

[[notify.webhook]]
url = "https://hooks.example.com/T0/B1/xyz"
token_env = "HOOK_TOKEN"
headers = {{ X-Team = "pki" }}
"""


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "monitor.toml"
    path.write_text(text)
    return path


def test_full_file(tmp_path: Path) -> None:
    pw = tmp_path / "smtp-password"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)  # a password file others may read is refused
    write(tmp_path, FULL.format(pw=pw))
    s = load_settings(tmp_path, environ={"HOOK_TOKEN": "tok"})
    assert s.interval == timedelta(seconds=30) and s.expiry_warning == timedelta(days=14)
    assert s.repeat == timedelta(hours=12) and s.history == 20
    assert s.metrics_listen == "127.0.0.1:9464"
    assert s.retry.base == timedelta(seconds=10) and s.retry.jitter == 0.25
    assert s.renew and not s.announce_renewals
    [mail] = s.email
    assert (mail.name, mail.port, mail.security, mail.password) == ("ops", 587, "starttls",
                                                                     "s3cret")
    assert "s3cret" not in repr(mail)
    [hook] = s.webhooks
    assert hook.name == "webhook-1"
    assert dict(hook.headers) == {"Authorization": "Bearer tok", "X-Team": "pki"}


def test_absent_file_means_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path)
    assert s.channels == () and s.interval == timedelta(minutes=5) and s.renew


@pytest.mark.parametrize(("text", "needle"), [
    ("[monitor]\ninterval = \"soon\"\n", "monitor.interval: monitor.interval 'soon' is not"),
    ("[monitor]\nhistory = 0\n", "monitor.history: 0 is not a whole number from 1 to"),
    ("[monitor]\nmetrics_listen = \"0.0.0.0:9464\"\n", "only loopback"),
    ("[monitor]\nintervall = \"5m\"\n", "monitor.intervall: unknown key"),
    ("[alerts]\n", "alerts: unknown section"),
    ("[[notify.email]]\nhost = \"h\"\nfrom = \"a@b\"\n", "notify.email[0].to: missing"),
    ("[[notify.email]]\nhost = \"h\"\nfrom = \"a@b\"\nto = \"c@d\"\nusername = \"u\"\n"
     "password_env = \"NOPE_NOT_SET\"\n", "environment variable NOPE_NOT_SET is not set"),
    ("[[notify.email]]\nhost = \"h\"\nfrom = \"a@b\"\nto = \"c@d\"\nusername = \"u\"\n"
     "security = \"none\"\npassword_env = \"PW\"\n", "clear text"),
    ("[[notify.webhook]]\nurl = \"file:///etc/passwd\"\n", "must be http://"),
    ("[renewal]\nretry_base = \"2h\"\nretry_max = \"1h\"\n", "retry_max must not be shorter"),
    ("not toml at all [", "not valid TOML"),
])
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_settings(tmp_path, environ={"PW": "x"})
    assert err.value.message.startswith(f"{path}: ")
    assert needle in err.value.message


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such monitor configuration file"):
        load_settings(tmp_path, tmp_path / "elsewhere.toml")


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("5m", 300), ("1h30m", 5400), ("30d", 2592000), ("2w", 1209600), ("45", 45),
    (12, 12), ("0.5s", 0.5),
])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5x", "-5m", "0s", "m5", "5m m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("30d", "1h30m", "2m", "45s", "1d2h3m4s"):
        assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:9000", ("::1", 9000)),
    (":0", ("127.0.0.1", 0)), ("localhost:80", ("127.0.0.1", 80)),
    ("127.0.0.2:1", ("127.0.0.2", 1)),
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["198.18.0.1:9464", "9464", "example.com:80", "[::]:1",
                                  "127.0.0.1:99999"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_listen(text)


# -- webhook secrets outside the file; secret files only their owner may read -------------


def _secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_webhook_url_and_headers_from_env_and_files(tmp_path: Path) -> None:
    url_file = _secret(tmp_path / "url", "https://hooks.example.com/T0/B1/from-file\n")
    headers = _secret(tmp_path / "headers",
                      "# sent with every notice\nX-Api-Key: k3y-from-file\nX-Team: pki\n")
    write(tmp_path, "[[notify.webhook]]\nname = \"a\"\nurl = \"https://h.example/${HOOK_PATH}\"\n"
                    "headers = { Authorization = \"Bearer ${HOOK_TOKEN}\" }\n\n"
                    f"[[notify.webhook]]\nname = \"b\"\nurl_file = \"{url_file}\"\n"
                    f"headers_file = \"{headers}\"\n\n"
                    "[[notify.webhook]]\nname = \"c\"\nurl_env = \"HOOK_URL\"\n")
    env = {"HOOK_PATH": "services/s3cr3t-path", "HOOK_TOKEN": "t0ken-xyz",
           "HOOK_URL": "https://h.example/from-env?sig=abc123"}
    a, b, c = load_settings(tmp_path, environ=env).webhooks
    assert a.url == "https://h.example/services/s3cr3t-path"
    assert dict(a.headers) == {"Authorization": "Bearer t0ken-xyz"}
    assert b.url == "https://hooks.example.com/T0/B1/from-file"
    assert dict(b.headers) == {"X-Api-Key": "k3y-from-file", "X-Team": "pki"}
    assert c.url == "https://h.example/from-env?sig=abc123"
    from certmgr import redact

    shown = redact.text(f"{a.url} {a.headers} {b.url} {b.headers} {c.url}")
    for secret in ("s3cr3t-path", "t0ken-xyz", "T0/B1/from-file", "k3y-from-file",
                   "from-env?sig=abc123"):
        assert secret not in shown
    assert "pki" in shown  # an ordinary header value is not a secret


@pytest.mark.parametrize(("mode", "ok"), [(0o600, True), (0o400, True), (0o640, False),
                                          (0o644, False), (0o602, False)])
@pytest.mark.parametrize("key", ["password_file", "token_file", "url_file", "headers_file"])
def test_secret_files_others_may_read_are_refused(tmp_path: Path, key: str, mode: int,
                                                  ok: bool) -> None:
    content = {"url_file": "https://h.example/x", "headers_file": "X-Api-Key: k"}.get(key, "pw")
    secret = _secret(tmp_path / "secret", content, mode)
    if key == "password_file":
        text = ("[[notify.email]]\nhost = \"h\"\nfrom = \"a@b\"\nto = \"c@d\"\n"
                f"username = \"u\"\npassword_file = \"{secret}\"\n")
    else:
        url = "" if key == "url_file" else "url = \"https://h.example/x\"\n"
        text = f"[[notify.webhook]]\n{url}{key} = \"{secret}\"\n"
    write(tmp_path, text)
    if ok:
        load_settings(tmp_path)
        return
    with pytest.raises(InputError) as raised:
        load_settings(tmp_path)
    assert f"mode {mode:04o} lets group or others" in raised.value.message
    assert f"chmod 600 {secret}" in raised.value.message


@pytest.mark.parametrize(("text", "needle"), [
    ("[[notify.webhook]]\nurl = \"https://h/${NOPE}\"\n", "environment variable NOPE is not set"),
    ("[[notify.webhook]]\nurl = \"https://h/\"\nurl_env = \"X\"\n", "give one of url, url_env"),
    ("[[notify.webhook]]\nname = \"x\"\n", "url: missing"),
])
def test_webhook_url_errors(tmp_path: Path, text: str, needle: str) -> None:
    write(tmp_path, text)
    with pytest.raises(InputError, match=needle):
        load_settings(tmp_path, environ={})


def test_bad_headers_file_line_is_named(tmp_path: Path) -> None:
    headers = _secret(tmp_path / "headers", "X-Ok: 1\nnot a header\n")
    write(tmp_path, f"[[notify.webhook]]\nurl = \"https://h/\"\nheaders_file = \"{headers}\"\n")
    with pytest.raises(InputError, match="line 2 is not a 'Name: value' header"):
        load_settings(tmp_path)
