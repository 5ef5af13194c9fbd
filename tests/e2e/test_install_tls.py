"""A full install in letsencrypt mode against a real ACME CA: Pebble and
pebble-challtestsrv, started here on the host's loopback (ports
21500-21599), with a certificate for Pebble's listener made at test time.

The target shares the host's network namespace: it reaches Pebble on
127.0.0.1, and Pebble's validator reaches the target's port 80 (the
built-in responder during the install, nginx afterwards), since
challtestsrv's DNS answers every name with 127.0.0.1. Pebble issues from
a root it makes at start; the target trusts that root the way a site
using a company's ACME CA trusts the company's root: in
/usr/local/share/ca-certificates, which the ca-certificates package of
the release picks up. One target serves the module, in the order
written."""

import json
import pathlib
import socket
import ssl
import sys
import time

import pytest

from test_install_common import ANSWERS as COMMON_ANSWERS
from test_install_common import HOSTNAME, REL, install, new_target

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from pebblectl import (MARKS, listener_tls, port_free,  # noqa: E402
                       start_challtestsrv, start_pebble, stop, x509)

DIR_PORT, MGMT_PORT = 21500, 21501
DNS_PORT, DNS_MGMT_PORT = 21502, 21503
TLS_ALPN_PORT = 21543  # Pebble wants one; only http-01 is used
TIMER = "chatstack-renew.timer"

# The stack's answers, with letsencrypt in place of selfsigned.
ANSWERS = COMMON_ANSWERS.replace("  mode: selfsigned\n", f"""\
  mode: letsencrypt
  letsencrypt:
    email: ops@example.com
    directory: https://127.0.0.1:{DIR_PORT}/dir
    ca_file: /root/pebble-ca.pem
""") + """preflight:
  waive:
    - { check: time.sync, reason: "test target: the clock is the host's" }
"""
assert "letsencrypt" in ANSWERS

pytestmark = MARKS


def fetch_mgmt(ca, path):
    """GET on Pebble's management interface (its roots, intermediates)."""
    import urllib.request
    ctx = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(
            f"https://127.0.0.1:{MGMT_PORT}{path}", context=ctx,
            timeout=10) as r:
        return r.read()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    work = tmp_path_factory.mktemp("pebble")
    listener_tls(work, "chatstack e2e listener root")
    for port in (DIR_PORT, MGMT_PORT, DNS_MGMT_PORT, 80, 443):
        port_free(port)
    procs = []
    try:
        procs.append(start_challtestsrv(work, DNS_PORT, DNS_MGMT_PORT))
        procs.append(start_pebble(work, "pebble", DIR_PORT, MGMT_PORT, 80,
                                  TLS_ALPN_PORT, DNS_PORT))
        root = fetch_mgmt(work / "ca.pem", "/roots/0")
        inter = fetch_mgmt(work / "ca.pem", "/intermediates/0")
        (work / "root.pem").write_bytes(root)
        yield {"work": work, "ca": work / "ca.pem", "root": work / "root.pem",
               "intermediate": x509.load_pem_x509_certificate(inter),
               "log": work / "pebble.log"}
    finally:
        stop(procs)


@pytest.fixture(scope="module")
def site(pebble):
    # No apt source, but the host's network: Pebble is on its loopback.
    t = new_target(ANSWERS, network=True, files=[
        (pebble["ca"], "/root/pebble-ca.pem"),
        (pebble["root"], "/usr/local/share/ca-certificates/pebble-root.crt"),
    ])
    try:
        t.first = install(t)
        yield t
    finally:
        t.destroy()


def served_chain(root):
    """The certificate nginx serves for HOSTNAME on 127.0.0.1:443, verified
    against Pebble's root (so nginx sends the intermediate too)."""
    ctx = ssl.create_default_context(cafile=str(root))
    with socket.create_connection(("127.0.0.1", 443), 10) as s:
        with ctx.wrap_socket(s, server_hostname=HOSTNAME) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def summary_tls(events):
    for e in events:
        if e.get("type") == "summary" and "tls" in e.get("data", {}):
            return e["data"]["tls"], e.get("message", "")
    return None, ""


def test_install_letsencrypt_gets_the_certificate_from_pebble(site, pebble):
    rc, events, r = site.first
    assert rc == 0, r.stdout[-4000:] + r.stderr[-3000:] + \
        pebble["log"].read_text()[-2000:]
    finished = {e["step"]: e for e in events
                if e.get("type") == "step.finished"}
    assert finished["tls.certificate"]["changed"] is True
    # The end-to-end check ran over HTTPS with the issued certificate.
    assert finished["verify.e2e"]["message"] == "passed"
    leaf = served_chain(pebble["root"])
    assert leaf.issuer == pebble["intermediate"].subject
    names = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == [HOSTNAME]


def test_install_letsencrypt_summary_names_issuer_and_expiry(site, pebble):
    _, events, _ = site.first
    tls, message = summary_tls(events)
    assert tls is not None, events[-3:]
    assert tls["mode"] == "letsencrypt"
    assert "Pebble Intermediate" in tls["issuer"]
    assert tls["warnings"] == []
    assert "ca_fingerprint" not in tls
    assert f"valid until {tls['not_after']}" in message
    assert TIMER in message


def test_install_letsencrypt_enables_the_renewal_timer(site):
    assert site.run("systemctl", "is-active", TIMER).stdout.strip() == \
        "active"
    assert site.run("systemctl", "is-enabled", TIMER).stdout.strip() == \
        "enabled"
    r = site.run("systemctl", "show", "-P", "TimersCalendar", TIMER)
    assert "00,12:00:00" in r.stdout, r.stdout
    r = site.run("systemctl", "show", "-P", "RandomizedDelayUSec", TIMER)
    assert r.stdout.strip() == "12h", r.stdout
    # The service runs the chatstack installed under /opt, not the
    # unpacked release (which an operator may delete).
    r = site.run("systemctl", "cat", "chatstack-renew.service")
    assert "ExecStart=/opt/chatstack/current/bin/chatstack " in r.stdout
    r = site.run("/opt/chatstack/current/bin/chatstack", "version")
    assert r.returncode == 0, r.stderr


def test_install_letsencrypt_certs_status_shows_issuer_and_expiry(site):
    r = site.run("/opt/chatstack/current/bin/chatstack", "certs", "status",
                 "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(r.stdout)
    assert st["mode"] == "letsencrypt"
    assert "Pebble Intermediate" in st["issuer"]
    assert st["not_after"] and st["days_left"] > 0
    r = site.run("/opt/chatstack/current/bin/chatstack", "certs", "status")
    assert r.returncode == 0
    assert "Pebble Intermediate" in r.stdout
    assert st["not_after"] in r.stdout


def test_install_letsencrypt_timer_run_keeps_a_fresh_certificate(site,
                                                                 pebble):
    before = served_chain(pebble["root"]).serial_number
    pid = site.run("systemctl", "show", "-P", "MainPID",
                   "nginx.service").stdout
    r = site.run("systemctl", "start", "chatstack-renew.service",
                 timeout=300)
    assert r.returncode == 0, site.run(
        "journalctl", "-u", "chatstack-renew.service", "--no-pager").stdout
    r = site.run("systemctl", "show", "-P", "Result",
                 "chatstack-renew.service")
    assert r.stdout.strip() == "success"
    r = site.run("cat", "/etc/chatstack/tls/renewal.json")
    last = json.loads(r.stdout)
    assert last["ok"] is True and last["changed"] is False
    assert served_chain(pebble["root"]).serial_number == before
    assert site.run("systemctl", "show", "-P", "MainPID",
                    "nginx.service").stdout == pid


def test_install_letsencrypt_renewal_through_nginx_reloads_it(site, pebble):
    # Forced: the challenge is answered from the webroot nginx serves on
    # port 80, and nginx is reloaded (same main process) to serve it.
    before = served_chain(pebble["root"]).serial_number
    pid = site.run("systemctl", "show", "-P", "MainPID",
                   "nginx.service").stdout
    r = site.run("/opt/chatstack/current/bin/chatstack", "certs", "renew",
                 "--force", "--reload", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for _ in range(50):
        if served_chain(pebble["root"]).serial_number != before:
            break
        time.sleep(0.2)
    assert served_chain(pebble["root"]).serial_number != before
    assert site.run("systemctl", "show", "-P", "MainPID",
                    "nginx.service").stdout == pid


def test_install_letsencrypt_second_run_changes_nothing(site, pebble):
    serial = served_chain(pebble["root"]).serial_number
    rc, events, r = install(site)
    assert rc == 0, r.stdout[-3000:]
    data = [e["data"] for e in events if e.get("type") == "summary"
            and "changed" in e.get("data", {})]
    assert data and data[0]["changed"] == 0, [
        e for e in events if e.get("type") == "step.finished"
        and e.get("changed")]
    assert served_chain(pebble["root"]).serial_number == serial


def test_install_letsencrypt_uninstall_removes_the_timer(site):
    r = site.run(f"{REL}/bin/chatstack", "uninstall", "--yes", timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = site.run("systemctl", "list-unit-files", "chatstack-renew*",
                 "--no-legend")
    assert "chatstack-renew" not in r.stdout
    for unit in ("chatstack-renew.service", TIMER):
        assert site.run("test", "-e",
                        f"/etc/systemd/system/{unit}").returncode != 0
    # Certificates stay without --purge.
    assert site.run("test", "-s",
                    "/etc/chatstack/tls/fullchain.pem").returncode == 0
