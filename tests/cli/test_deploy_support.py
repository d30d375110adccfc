"""CLI pieces that deployments build on: serialised migrations, ``db check``, registry-config for
a registry in a container."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.cli.conftest import one_line_error
from tests.conftest import fresh_database_url

AUTHSVC = str(Path(sys.executable).with_name("authsvc"))


def test_replicas_migrating_at_once_all_succeed(tmp_path):
    """Four processes run 'authsvc db upgrade' on one empty database at the same moment, as
    replicas starting together do; the migration lock lets one migrate and the others find it done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update(AUTHSVC_DATA_DIR=str(tmp_path / "data"))
    url = fresh_database_url(tmp_path, migrated=False)
    if url:
        env["AUTHSVC_DATABASE_URL"] = url
    procs = [subprocess.Popen([AUTHSVC, "db", "upgrade"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    check = subprocess.run([AUTHSVC, "db", "check"], env=env, capture_output=True, text=True)
    assert check.returncode == 0 and "(current)" in check.stdout, check.stderr


def test_db_check_fails_until_migrated(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from authsvc.cli import main
    for name in list(os.environ):
        if name.startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHSVC_DATA_DIR", str(tmp_path / "data"))
    url = fresh_database_url(tmp_path, migrated=False)
    if url:
        monkeypatch.setenv("AUTHSVC_DATABASE_URL", url)
    runner = CliRunner()
    result = runner.invoke(main, ["db", "check"])
    # SQLite: the file is not there yet, and db check must not create it (init or db upgrade does)
    one_line_error(result, "run 'authsvc db upgrade'" if url else "no authsvc database at")
    assert url or not (tmp_path / "data").exists()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["db", "check", "--wait", "5"]).exit_code == 0


def test_registry_config_for_a_registry_in_a_container(cli):
    out = cli("registry-config", "--full", "--registry-version", "3", "--no-http-secret",
              "--trust-bundle", "/etc/registry/trust/trust-bundle.pem",
              "--jwks-path", "/etc/registry/trust/jwks.json").stdout
    config = yaml.safe_load(out)
    assert "secret" not in config["http"]
    assert config["auth"]["token"]["rootcertbundle"] == "/etc/registry/trust/trust-bundle.pem"
    assert config["auth"]["token"]["jwks"] == "/etc/registry/trust/jwks.json"
    with_secret = yaml.safe_load(cli("registry-config", "--full").stdout)
    assert len(with_secret["http"]["secret"]) >= 32
    one_line_error(cli("registry-config", "--trust-bundle", "relative.pem", ok=False), "absolute path")
