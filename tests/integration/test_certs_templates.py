"""The renewal service and timer templates render to units that systemd
accepts. tests/unit/test_certs_templates.c renders them with the real
renderer; here the two tag forms they use are substituted so that
systemd-analyze can check the result."""
import pathlib
import re
import shutil
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = TOP / "templates" / "certs"


def render(text, variables):
    """{# comments #} (whole lines) and {{ dotted.names }} only."""
    text = re.sub(r"\{#.*?#\}\n?", "", text, flags=re.S)

    def value(m):
        v = variables
        for part in m.group(1).split("."):
            v = v[part]
        return str(v)
    out = re.sub(r"\{\{\s*([a-z_.]+)\s*\}\}", value, text)
    assert "{%" not in out and "{{" not in out
    return out


@pytest.fixture
def units(tmp_path, chatstack):
    prefix = tmp_path / "opt"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "chatstack").symlink_to(chatstack)
    (tmp_path / "etc" / "tls").mkdir(parents=True)
    variables = {"paths": {"prefix": str(prefix),
                           "etc": str(tmp_path / "etc")}}
    for name in ("chatstack-renew.service", "chatstack-renew.timer"):
        (tmp_path / name).write_text(
            render((TEMPLATES / name).read_text(), variables))
    return tmp_path


def test_certs_renew_units_render_and_verify(units):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    service = (units / "chatstack-renew.service").read_text()
    assert "certs renew --tls-dir" in service
    assert "--reload" in service
    timer = (units / "chatstack-renew.timer").read_text()
    assert "OnCalendar=*-*-* 00,12:00:00" in timer
    assert "RandomizedDelaySec=" in timer
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no",
         str(units / "chatstack-renew.service"),
         str(units / "chatstack-renew.timer")],
        capture_output=True, text=True, timeout=60)
    problems = [l for l in r.stderr.splitlines()
                if "chatstack-renew" in l]
    assert r.returncode == 0 or not problems, r.stderr
    assert not problems, r.stderr
