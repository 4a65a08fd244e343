"""certmgr deploy / host on a files-only tree: dry runs, refusals, host records."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import run_cli

TREE = Path(__file__).parents[1] / "fixtures/trees/debian12"


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        # lstat first: a fixture's symlink may point at a file only root can stat.
        if not path.is_symlink() and path.is_file():
            h.update(path.read_bytes())
            h.update(oct(path.stat().st_mode).encode())
    return h.hexdigest()


@pytest.fixture
def issued(cli: CliRunner, home: Path, tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(TREE, root, symlinks=True)
    assert run_cli(cli, "ca", "init")[0] == 0
    code, _out, err = run_cli(cli, "define", "www.example.com", "--san", "deb12",
                              "--target", "local/apache2:_default_", "--target", "local/vsftpd")
    assert code == 0, err
    code, _out, err = run_cli(cli, "issue", "www.example.com")
    assert code == 0, err
    return root


def test_dry_run_on_a_root_tree_prints_the_plan_and_changes_nothing(
        cli: CliRunner, issued: Path) -> None:
    before = digest(issued)
    code, out, err = run_cli(cli, "deploy", "www.example.com", "--dry-run", "--root",
                             str(issued))
    assert code == 0, err
    assert "root:root 0600 /etc/apache2/ssl/private/www.example.com.key (key)" in out
    assert "root:root 0644 /etc/vsftpd/ssl/certs/www.example.com.crt (cert)" in out
    assert "edit  /etc/apache2/sites-available/default-ssl.conf" in out
    assert "vsftpd has no configuration test" in out
    assert "planned" in out
    assert digest(issued) == before
    code, out, err = run_cli(cli, "deploy", "www.example.com", "--dry-run", "--json",
                             "--root", str(issued))
    assert code == 0, err
    doc = json.loads(out)
    plans = {d["target"]: d["plan"] for d in doc["deployments"]}
    edit = plans["local/apache2:_default_"]["edits"][0]
    added = [line for line in edit["diff"].splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    assert [line[1:].split()[0] for line in added] == ["SSLCertificateFile",
                                                        "SSLCertificateKeyFile"]
    assert {f["mode"] for f in plans["local/vsftpd"]["files"]} == {"0644", "0600"}


def test_a_real_deploy_on_a_root_tree_exits_2(cli: CliRunner, issued: Path) -> None:
    before = digest(issued)
    code, _out, err = run_cli(cli, "deploy", "www.example.com", "--yes", "--root", str(issued))
    assert code == 2
    assert "files-only tree" in err and "use --dry-run" in err
    assert digest(issued) == before


def test_deploy_usage(cli: CliRunner, home: Path) -> None:
    assert run_cli(cli, "deploy")[0] == 2
    code, _out, err = run_cli(cli, "deploy", "nosuch", "--dry-run")
    assert code == 2 and "nosuch" in err
    code, _out, err = run_cli(cli, "deploy", "nosuch")
    assert code == 2 and "--yes" in err
    code, out, _err = run_cli(cli, "deployments", "--json")
    assert code == 0 and json.loads(out) == {"deployments": []}


def test_host_add_list_remove(cli: CliRunner, home: Path, tmp_path: Path) -> None:
    # --no-check does not connect, but the key and known_hosts files are still checked.
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text("[198.18.0.9]:2222 " + (tmp_path / "id.pub").read_text())
    code, _out, err = run_cli(cli, "host", "add", "ssh://deploy@198.18.0.9:2222", "--key",
                              str(key), "--known-hosts", str(known), "--no-check")
    assert code == 0, err
    code, out, _err = run_cli(cli, "host", "list", "--json")
    (record,) = json.loads(out)["hosts"]
    assert (record["name"], record["kind"], record["address"]) == \
        ("ssh://deploy@198.18.0.9:2222", "ssh", "deploy@198.18.0.9:2222")
    assert record["params"]["key"] == str(key)
    assert run_cli(cli, "host", "remove", "ssh://deploy@198.18.0.9:2222")[0] == 0
    assert run_cli(cli, "host", "remove", "ssh://deploy@198.18.0.9:2222")[0] == 2
    assert run_cli(cli, "host", "add", "http://x", "--key", str(key), "--no-check")[0] == 2


def test_one_deploy_run_per_home(home: Path) -> None:
    from certmgr.deploy.run import _deploy_lock
    from certmgr.errors import UsageError

    with _deploy_lock(home), pytest.raises(UsageError, match="another certmgr deploy"), \
            _deploy_lock(home):
        pass
    with _deploy_lock(home):  # released after the first run
        pass
