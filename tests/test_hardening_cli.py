"""Issue 14, items 4-10 and 12 (inputs): hostile and careless input on the command line.

Each test reproduces one finding of the audit on a throwaway home: the answer is
exit 2 with one line naming the value, never exit 70, never a hang, and nothing
half-written. (Item 7, ``--help`` of every command, is tests/test_cli_help.py.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.errors import InputError
from certmgr.monitor.settings import load_settings
from certmgr.repository import open_repository
from certmgr.repository.records import DefinitionRecord, IssuerKind
from tests.conftest import run_cli


def one_line_exit_2(result: tuple[int, str, str], *words: str) -> str:
    code, _out, err = result
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def with_ca(home: Path, cli: CliRunner) -> Path:
    code, _, err = run_cli(cli, "ca", "init")
    assert code == 0, err
    return home


# -- item 4: serials ------------------------------------------------------------------

def test_revoking_a_too_long_serial_is_refused(with_ca: Path, cli: CliRunner) -> None:
    one_line_exit_2(run_cli(cli, "ca", "revoke", "f" * 41), "f" * 41, "20 octets")
    one_line_exit_2(run_cli(cli, "ca", "revoke", "8" + "0" * 39), "20 octets")  # 2**159
    code, out, err = run_cli(cli, "ca", "revoke", "7" + "f" * 39, "--json")  # 2**159 - 1
    assert code == 0, err and json.loads(out)["serial"] == "7" + "f" * 39
    code, _, err = run_cli(cli, "ca", "crl")
    assert code == 0, err


def test_crl_skips_a_stored_bad_serial_with_a_warning(with_ca: Path, cli: CliRunner) -> None:
    # A serial revoked before serials were bounded: the CRL must still be made.
    with open_repository(None, with_ca) as repo:
        record = repo.get_issuer("builtin")
        at = dt.datetime.now(dt.UTC).isoformat()
        revoked = [{"serial": "f" * 41, "at": at, "reason": ""},
                   {"serial": "1234", "at": at, "reason": ""}]
        repo.save_issuer("builtin", IssuerKind.BUILTIN,
                         config={**record.config, "revoked": revoked},
                         certificates_pem=record.certificates_pem)
    code, out, err = run_cli(cli, "ca", "crl", "--json")
    assert code == 0, err
    assert json.loads(out)["revoked"] == 1
    assert "warning" in err and "f" * 41 in err


# -- item 5: names match whole -------------------------------------------------------------

def test_a_newline_in_a_name_is_refused(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    one_line_exit_2(run_cli(cli, "define", "n", "--cn", "x\n.example.com"), "\\n")
    toml = tmp_path / "d.toml"
    toml.write_text('[definitions.y]\ncn = "y\\n.example.com"\n')
    one_line_exit_2(run_cli(cli, "apply", str(toml)), "\\n")
    code, out, _ = run_cli(cli, "definitions", "list", "--json")
    assert code == 0 and "example.com" not in out


# -- item 6: exit 2, never 70, on bad values ---------------------------------------------

@pytest.mark.parametrize("args", [
    ("define", "v", "--cn", "v.example.com", "--validity", "99999999d"),
    ("define", "v", "--cn", "v.example.com", "--validity", "9999999999999999999999999999d"),
    ("define", "v", "--cn", "v.example.com", "--renew-before", "99999999999d"),
    ("list", "--expiring", "99999999999d"),
    ("audit", "-n", "99999999999999999999"),
    ("deployments", "--limit", "99999999999999999999"),
    ("deployments", "--to", "99999999999999999999"),
    ("scan", "127.0.0.1:1", "--timeout", "nan"),
    ("deploy", "--all", "--dry-run", "--verify-timeout", "nan"),
])
def test_out_of_range_values_exit_2(home: Path, cli: CliRunner, args: tuple[str, ...]) -> None:
    code, _, err = run_cli(cli, *args)
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err


def test_issue_all_goes_on_past_a_bad_stored_definition(with_ca: Path, cli: CliRunner) -> None:
    # Stored before validities were bounded (or by another face): one bad definition must
    # not stop the batch, and it is reported as a failure, not as a crash.
    with open_repository(None, with_ca) as repo:
        for name, days in (("a", 90), ("b", 99_999_999), ("c", 90)):
            repo.save_definition(DefinitionRecord(
                name=name, cn=f"{name}.example.com", validity=dt.timedelta(days=days),
                issuer="builtin"))
    code, out, err = run_cli(cli, "issue", "--all", "--json")
    assert code == 1, err
    results = {r["definition"]: r for r in json.loads(out)["results"]}
    assert results["a"]["status"] == "issued" and results["c"]["status"] == "issued"
    assert results["b"]["status"] == "failed" and "out of range" in results["b"]["message"]
    one_line_exit_2(run_cli(cli, "issue", "b"), "validity", "out of range")


@pytest.mark.parametrize("monitor", [
    'interval = "999999999999999d"', "interval = 1e300", "interval = inf", "interval = nan",
    'probe_timeout = "99999999999d"', "concurrency = 99999999999", "history = 99999999999",
    'expiry_warning = "99999999999d"',
])
def test_monitor_toml_values_are_bounded(home: Path, cli: CliRunner, tmp_path: Path,
                                         monitor: str) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(f"[monitor]\n{monitor}\n")
    # Checked on the settings first: on a build without the bounds the command itself
    # would run with them (item 9: 99999999999 probes in flight grow by 90 MB/s).
    with pytest.raises(InputError, match=monitor.split(" ")[0]):
        load_settings(home, config)
    line = one_line_exit_2(run_cli(cli, "monitor", "--once", "--config", str(config)),
                           str(config))
    assert monitor.split(" ")[0] in line


def test_monitor_concurrency_is_bounded(home: Path, tmp_path: Path) -> None:
    # Item 9: 99999999999 probes in flight spun at 100% CPU, growing by 90 MB/s.
    config = tmp_path / "monitor.toml"
    config.write_text("[monitor]\nconcurrency = 4097\n")
    with pytest.raises(InputError, match=r"concurrency.*4,096"):
        load_settings(home, config)
    config.write_text("[monitor]\nconcurrency = 4096\n")
    assert load_settings(home, config).concurrency == 4096


@pytest.mark.parametrize("timeout", ["0", "-1", "inf", "nan", "1e300", '"soon"'])
def test_notification_timeouts_are_bounded(home: Path, cli: CliRunner, tmp_path: Path,
                                           timeout: str) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('[[notify.email]]\nhost = "127.0.0.1"\nfrom = "a@example.com"\n'
                      f'to = "b@example.com"\ntimeout = {timeout}\n')
    one_line_exit_2(run_cli(cli, "notify", "test", "--config", str(config)), "timeout")


def test_host_add_checks_its_key_and_known_hosts(home: Path, cli: CliRunner,
                                                 tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_text("GARBAGE\n")
    one_line_exit_2(run_cli(cli, "host", "add", "ssh://root@127.0.0.1", "--key", str(garbage),
                            "--no-check"), "--key", "private key")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    binary = tmp_path / "known_hosts"
    binary.write_bytes(bytes(range(256)) * 4)
    one_line_exit_2(run_cli(cli, "host", "add", "ssh://root@127.0.0.1", "--key", str(key),
                            "--known-hosts", str(binary), "--no-check"), "--known-hosts")
    code, out, _ = run_cli(cli, "host", "list", "--json")
    assert code == 0 and json.loads(out)["hosts"] == []


# -- item 8: the scan size limit counts the whole scan ---------------------------------------

def test_scan_size_limit_counts_every_target(tmp_path: Path) -> None:
    # In a child with a deadline: a build that counts per target starts 2,097,152 probes.
    home = tmp_path / "home"
    for args in (("127.0.0.0/12:1", "127.16.0.0/12:1"), ("--from", "{targets}")):
        targets = tmp_path / "targets"
        targets.write_text("127.0.0.0/13:1\n127.8.0.0/13:1\n127.16.0.0/13:1\n")
        try:
            result = _certmgr(home, "scan", *[a.format(targets=targets) for a in args])
        except subprocess.TimeoutExpired:
            pytest.fail(f"scan {' '.join(args)} started past the limit")
        one_line_exit_2((result.returncode, result.stdout, result.stderr), "1,048,576")
    assert not home.exists()  # refused before anything started


# -- item 10: a FIFO never hangs ---------------------------------------------------------

def _certmgr(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CERTMGR_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "certmgr", *args], env=env, text=True,
                          capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [
    ("import", "{fifo}"), ("import", "{cert}", "--key", "{fifo}"), ("apply", "{fifo}"),
    ("receive", "{fifo}"), ("scan", "--from", "{fifo}"), ("scan", "127.0.0.1:1", "--ca", "{fifo}"),
    ("import", "{cert}", "--password-file", "{fifo}"),
    ("monitor", "--once", "--config", "{fifo}"), ("restore", "{fifo}"),
])
def test_a_fifo_as_input_is_refused_at_once(tmp_path: Path, args: tuple[str, ...]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cert = tmp_path / "cert.pem"
    cert.write_text("not read before the FIFO is refused\n")
    argv = [a.format(fifo=fifo, cert=cert) for a in args]
    try:
        result = _certmgr(tmp_path / "home", *argv)
    except subprocess.TimeoutExpired:
        pytest.fail(f"certmgr {' '.join(args)} waited on a FIFO")
    assert result.returncode == 2, result.stderr
    assert str(fifo) in result.stderr and "not a regular file" in result.stderr


# -- item 12 (inputs) ----------------------------------------------------------------------

def test_scan_from_never_echoes_control_characters(home: Path, cli: CliRunner,
                                                   tmp_path: Path) -> None:
    targets = tmp_path / "targets"
    targets.write_bytes(b"a\x1b[31mb:443\n\x00:1\n")
    code, out, err = run_cli(cli, "scan", "--from", str(targets))
    assert code == 2
    assert "\x1b" not in out + err and "\x00" not in out + err
    assert "\\x1b" in err


@pytest.mark.parametrize(("url", "word"), [
    ("ssh://root@h:0", "port"), ("ssh://root@h\nx", "control"), ("ssh://root@h:70000", "port"),
])
def test_host_add_refuses_port_0_and_newlines(home: Path, cli: CliRunner, tmp_path: Path,
                                              url: str, word: str) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    one_line_exit_2(run_cli(cli, "host", "add", url, "--key", str(key), "--no-check"), word)


@pytest.mark.parametrize("cn", ["a\x1bb", "a\nb", "", "x" * 65])
def test_ca_cn_is_refused_with_control_characters(with_ca: Path, cli: CliRunner,
                                                  cn: str) -> None:
    line = one_line_exit_2(run_cli(cli, "ca", "init", "--force", "--cn", cn), "--cn")
    assert "\x1b" not in line


def test_scan_without_host_suggests_a_host(home: Path, cli: CliRunner) -> None:
    line = one_line_exit_2(run_cli(cli, "scan", ":443"), "HOST:PORT")
    assert ":443:443" not in line and "localhost:443" in line


def test_backup_over_a_directory_is_refused(home: Path, cli: CliRunner, tmp_path: Path) -> None:
    # Found by the property-based test: `backup --out DIR --force` was exit 70.
    (tmp_path / "dir").mkdir()
    one_line_exit_2(run_cli(cli, "backup", "--out", str(tmp_path / "dir"), "--force"),
                    "directory")
    assert list((tmp_path / "dir").iterdir()) == []


def test_a_webhook_url_with_a_newline_is_refused(home: Path, tmp_path: Path) -> None:
    # Item 5's class: URLs are checked whole (re.match only anchors the start).
    config = tmp_path / "monitor.toml"
    config.write_text('[[notify.webhook]]\nurl = "http://127.0.0.1/hook\\nX-Injected: 1"\n')
    with pytest.raises(InputError, match="control characters"):
        load_settings(home, config)
