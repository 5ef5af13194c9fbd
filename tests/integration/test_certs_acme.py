"""chatstack certs against a real ACME CA: Pebble and pebble-challtestsrv,
started here on loopback (ports 21000-21099), with a certificate for
Pebble's own listener made at test time."""
import datetime
import os
import pathlib
import socket
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from pebblectl import (MARKS, listener_tls, make_cert, now,  # noqa: E402
                       pem_key, port_free, start_challtestsrv, start_pebble,
                       stop, wait_port, x509)

if x509 is not None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

DIR_PORT, MGMT_PORT = 21000, 21001
DNS_PORT, DNS_MGMT_PORT = 21002, 21003
EAB_DIR_PORT, EAB_MGMT_PORT = 21010, 21011
CHALLENGE_PORT = 21080  # where Pebble's validator connects for http-01
TLS_ALPN_PORT = 21443
EAB_KID = "kid-1"
EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"

pytestmark = MARKS


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=300, **kw)


# Half of all good nonces are refused, so that every issuance goes through
# badNonce retries; every order is validated afresh, so that a failing
# challenge fails every time.
PEBBLE_ENV = {"PEBBLE_WFE_NONCEREJECT": "50", "PEBBLE_AUTHZREUSE": "0"}


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    work = tmp_path_factory.mktemp("pebble")
    listener_tls(work, "chatstack test root")
    for port in (DIR_PORT, MGMT_PORT, DNS_MGMT_PORT, EAB_DIR_PORT,
                 EAB_MGMT_PORT, CHALLENGE_PORT):
        port_free(port)
    procs = []
    try:
        procs.append(start_challtestsrv(work, DNS_PORT, DNS_MGMT_PORT))
        procs.append(start_pebble(work, "pebble", DIR_PORT, MGMT_PORT,
                                  CHALLENGE_PORT, TLS_ALPN_PORT, DNS_PORT,
                                  env=PEBBLE_ENV))
        procs.append(start_pebble(work, "pebble-eab", EAB_DIR_PORT,
                                  EAB_MGMT_PORT, CHALLENGE_PORT,
                                  TLS_ALPN_PORT, DNS_PORT,
                                  eab_keys={EAB_KID: EAB_KEY},
                                  env=PEBBLE_ENV))
        yield {"work": work, "ca": work / "ca.pem",
               "directory": f"https://127.0.0.1:{DIR_PORT}/dir",
               "eab_directory": f"https://127.0.0.1:{EAB_DIR_PORT}/dir"}
    finally:
        stop(procs)


def ensure(chatstack, pebble, tls, *extra, hostname="chat.example.com",
           directory=None, verbose=False):
    args = [chatstack] + (["-vv"] if verbose else []) + [
        "certs", "ensure", "--mode", "letsencrypt",
        "--hostname", hostname,
        "--directory", directory or pebble["directory"],
        "--ca-file", pebble["ca"], "--email", "ops@example.com",
        "--responder", "--challenge-address", "127.0.0.1",
        "--challenge-port", CHALLENGE_PORT, "--tls-dir", tls]
    return run(*(args + list(extra)))


def leaf(tls):
    pem = (pathlib.Path(tls) / "fullchain.pem").read_bytes()
    return x509.load_pem_x509_certificates(pem)[0] \
        if hasattr(x509, "load_pem_x509_certificates") \
        else x509.load_pem_x509_certificate(pem)


def san(cert):
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(str(v) for v in ext.value.get_values_for_type(x509.DNSName))


def mode(path):
    return os.stat(path).st_mode & 0o777


def make_due(tls, names):
    """Puts a certificate with a tenth of its lifetime left in tls."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(key, names, before=now() - datetime.timedelta(days=80),
                     after=now() + datetime.timedelta(days=10))
    (tls / "fullchain.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM))
    (tls / "privkey.pem").write_bytes(pem_key(key))
    os.chmod(tls / "privkey.pem", 0o600)


def test_certs_issuance_end_to_end_with_badnonce_retries(
        chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    r = ensure(chatstack, pebble, tls, "--name", "www.example.com",
               verbose=True)
    assert r.returncode == 0, r.stderr
    assert "changed: installed a certificate for chat.example.com" in r.stdout
    assert "badNonce" in r.stderr  # the CA refused nonces; we retried
    cert = leaf(tls)
    assert san(cert) == ["chat.example.com", "www.example.com"]
    assert "Pebble" in cert.issuer.rfc4514_string()
    assert mode(tls / "privkey.pem") == 0o600
    assert mode(tls / "account.key") == 0o600
    assert mode(tls / "fullchain.pem") == 0o644
    # The key in privkey.pem is the certificate's.
    key = serialization.load_pem_private_key(
        (tls / "privkey.pem").read_bytes(), None)
    assert key.public_key().public_numbers() == \
        cert.public_key().public_numbers()
    # The chain holds the intermediate after the leaf.
    assert (tls / "fullchain.pem").read_text().count("BEGIN CERTIFICATE") >= 2


def test_certs_second_ensure_changes_nothing(chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls).returncode == 0
    before = {p.name: p.read_bytes() for p in tls.iterdir()
              if p.name != "renewal.json"}
    r = ensure(chatstack, pebble, tls)
    assert r.returncode == 0, r.stderr
    assert "ok: kept the certificate" in r.stdout
    after = {p.name: p.read_bytes() for p in tls.iterdir()
             if p.name != "renewal.json"}
    assert before == after


def test_certs_account_key_is_made_once(chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls).returncode == 0
    account = (tls / "account.key").read_bytes()
    first = (tls / "fullchain.pem").read_bytes()
    r = ensure(chatstack, pebble, tls, "--force")
    assert r.returncode == 0, r.stderr
    assert (tls / "account.key").read_bytes() == account
    assert (tls / "fullchain.pem").read_bytes() != first


def test_certs_rsa_key_by_answer(chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    r = ensure(chatstack, pebble, tls, "--key-type", "rsa2048")
    assert r.returncode == 0, r.stderr
    key = serialization.load_pem_private_key(
        (tls / "privkey.pem").read_bytes(), None)
    assert key.key_size == 2048


def test_certs_eab_required_and_missing_is_refused(chatstack, pebble,
                                                   tmp_path):
    r = ensure(chatstack, pebble, tmp_path / "tls",
               directory=pebble["eab_directory"])
    assert r.returncode == 1
    assert "requires External Account Binding" in r.stdout
    assert "eab_kid" in r.stdout
    assert not (tmp_path / "tls" / "fullchain.pem").exists()


def test_certs_eab_required_and_supplied(chatstack, pebble, tmp_path):
    keyfile = tmp_path / "eab.key"
    keyfile.write_text(EAB_KEY + "\n")
    os.chmod(keyfile, 0o600)
    tls = tmp_path / "tls"
    r = ensure(chatstack, pebble, tls, "--eab-kid", EAB_KID,
               "--eab-key-file", keyfile, directory=pebble["eab_directory"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Pebble" in leaf(tls).issuer.rfc4514_string()
    # The HMAC key never reaches the output or the saved state.
    assert EAB_KEY not in r.stdout + r.stderr
    assert EAB_KEY not in (tls / "certs.json").read_text()


def test_certs_wrong_eab_key_is_refused_clearly(chatstack, pebble, tmp_path):
    keyfile = tmp_path / "eab.key"
    keyfile.write_text("A" * len(EAB_KEY) + "\n")
    r = ensure(chatstack, pebble, tmp_path / "tls", "--eab-kid", EAB_KID,
               "--eab-key-file", keyfile, directory=pebble["eab_directory"])
    assert r.returncode == 1
    assert "the CA refused the External Account Binding" in r.stdout
    assert "HMAC key" in r.stdout


def test_certs_unreachable_challenge_names_port_80(chatstack, pebble,
                                                   tmp_path):
    # The responder listens where the CA's validator does not connect.
    tls = tmp_path / "tls"
    r = ensure(chatstack, pebble, tls, "--challenge-port", "21085",
               hostname="down.example.com")
    assert r.returncode == 1
    assert "could not connect to 'down.example.com' on port 80" in r.stdout
    assert "check that port 80 of this host is reachable" in r.stdout
    assert not (tls / "fullchain.pem").exists()


def test_certs_webroot_nothing_serves_is_caught_before_the_ca(
        chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    r = run(chatstack, "certs", "ensure", "--mode", "letsencrypt",
            "--hostname", "down.example.com",
            "--directory", pebble["directory"], "--ca-file", pebble["ca"],
            "--webroot", tmp_path / "webroot",
            "--challenge-port", CHALLENGE_PORT, "--tls-dir", tls)
    assert r.returncode == 1
    assert f"nothing serves the challenge on port {CHALLENGE_PORT}" \
        in r.stdout
    assert "start nginx" in r.stdout
    assert not (tls / "fullchain.pem").exists()
    # The challenge files are cleaned up.
    assert list((tmp_path / "webroot" / ".well-known" /
                 "acme-challenge").iterdir()) == []


def test_certs_issuance_through_a_webroot(chatstack, pebble, tmp_path):
    # A plain HTTP server stands in for nginx, serving the webroot.
    webroot = tmp_path / "webroot"
    webroot.mkdir()
    log = tmp_path / "http.log"
    srv = subprocess.Popen(
        ["/usr/bin/python3", "-m", "http.server", str(CHALLENGE_PORT),
         "--bind", "127.0.0.1", "--directory", str(webroot)],
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_port(CHALLENGE_PORT, srv, log)
        tls = tmp_path / "tls"
        r = run(chatstack, "certs", "ensure", "--mode", "letsencrypt",
                "--hostname", "web.example.com",
                "--directory", pebble["directory"],
                "--ca-file", pebble["ca"], "--webroot", webroot,
                "--challenge-port", CHALLENGE_PORT, "--tls-dir", tls)
    finally:
        srv.terminate()
        srv.wait(10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert san(leaf(tls)) == ["web.example.com"]
    assert list((webroot / ".well-known" / "acme-challenge").iterdir()) == []


def test_certs_challenge_port_in_use_is_named(chatstack, pebble, tmp_path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", CHALLENGE_PORT))
    s.listen(1)
    try:
        r = ensure(chatstack, pebble, tmp_path / "tls",
                   hostname="busy.example.com")
    finally:
        s.close()
    assert r.returncode == 1
    assert f"port {CHALLENGE_PORT} is in use" in r.stdout


def test_certs_renew_replaces_a_due_certificate(chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls).returncode == 0
    make_due(tls, ["chat.example.com"])
    r = run(chatstack, "certs", "renew", "--tls-dir", tls)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "changed: installed a certificate" in r.stdout
    assert "Pebble" in leaf(tls).issuer.rfc4514_string()
    assert mode(tls / "privkey.pem") == 0o600
    st = run(chatstack, "certs", "status", "--tls-dir", tls)
    assert "renewal:        not due" in st.stdout
    assert "succeeded" in st.stdout


def test_certs_renew_leaves_a_certificate_that_is_not_due(
        chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls).returncode == 0
    chain = (tls / "fullchain.pem").read_bytes()
    key = (tls / "privkey.pem").read_bytes()
    r = run(chatstack, "--events", "json", "certs", "renew", "--tls-dir", tls)
    assert r.returncode == 0, r.stderr
    import json
    done = [json.loads(l) for l in r.stdout.splitlines()
            if json.loads(l)["type"] == "step.finished"]
    assert done and done[-1]["changed"] is False
    assert (tls / "fullchain.pem").read_bytes() == chain
    assert (tls / "privkey.pem").read_bytes() == key


def test_certs_renew_force_replaces_a_certificate(chatstack, pebble,
                                                  tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls).returncode == 0
    chain = (tls / "fullchain.pem").read_bytes()
    r = run(chatstack, "certs", "renew", "--force", "--tls-dir", tls)
    assert r.returncode == 0, r.stderr
    assert (tls / "fullchain.pem").read_bytes() != chain


def test_certs_failed_renewal_keeps_old_files(chatstack, pebble, tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls,
                  hostname="keep.example.com").returncode == 0
    make_due(tls, ["keep.example.com"])
    old = {n: (tls / n).read_bytes() for n in ("fullchain.pem",
                                                "privkey.pem")}
    # Renewal from a webroot that nothing serves fails at the challenge.
    r = run(chatstack, "certs", "renew", "--tls-dir", tls,
            "--webroot", tmp_path / "webroot")
    assert r.returncode == 1
    assert "nothing serves the challenge" in r.stdout
    assert "renewal failed, the old certificate stays" in r.stderr
    for n, data in old.items():
        assert (tls / n).read_bytes() == data
    assert mode(tls / "privkey.pem") == 0o600
    st = run(chatstack, "certs", "status", "--tls-dir", tls)
    assert "FAILED" in st.stdout
    assert "due now" in st.stdout


def test_certs_renew_without_a_certificate_says_so(chatstack, tmp_path):
    r = run(chatstack, "certs", "renew", "--tls-dir", tmp_path / "none")
    assert r.returncode == 1
    assert "no certificate to renew" in r.stdout


def test_certs_status_shows_issuer_names_and_expiry(chatstack, pebble,
                                                    tmp_path):
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls, "--name",
                  "www.example.com").returncode == 0
    r = run(chatstack, "certs", "status", "--tls-dir", tls)
    assert r.returncode == 0, r.stderr
    assert "mode:           letsencrypt" in r.stdout
    assert "issuer:         CN=Pebble Intermediate CA" in r.stdout
    assert "chat.example.com, www.example.com" in r.stdout
    assert "renewal:        not due" in r.stdout
    import json
    j = json.loads(run(chatstack, "certs", "status", "--json",
                       "--tls-dir", tls).stdout)
    assert j["due"] is False and j["days_left"] > 30


def test_certs_failed_renewal_with_the_ca_down_keeps_old_files(
        chatstack, pebble, tmp_path):
    import json
    tls = tmp_path / "tls"
    assert ensure(chatstack, pebble, tls).returncode == 0
    make_due(tls, ["chat.example.com"])
    old = {n: (tls / n).read_bytes() for n in ("fullchain.pem",
                                                "privkey.pem")}
    state = json.loads((tls / "certs.json").read_text())
    state["letsencrypt"]["directory"] = "https://127.0.0.1:21099/dir"
    (tls / "certs.json").write_text(json.dumps(state))
    r = run(chatstack, "certs", "renew", "--tls-dir", tls)
    assert r.returncode == 1
    assert "cannot reach the ACME server" in r.stdout
    for n, data in old.items():
        assert (tls / n).read_bytes() == data
    last = json.loads((tls / "renewal.json").read_text())
    assert last["ok"] is False
    assert "cannot reach the ACME server" in last["message"]


def test_certs_ensure_from_an_answer_file(chatstack, pebble, tmp_path):
    keyfile = tmp_path / "eab.key"
    keyfile.write_text(EAB_KEY + "\n")
    os.chmod(keyfile, 0o600)
    answers = tmp_path / "site.yaml"
    answers.write_text(f"""version: 1
hostname: chat.example.com
tls:
  mode: letsencrypt
  extra_names: [www.example.com]
  letsencrypt:
    email: ops@example.com
    directory: {pebble['eab_directory']}
    ca_file: {pebble['ca']}
    eab_kid: {EAB_KID}
    eab_hmac_key_file: {keyfile}
    key_type: rsa2048
components:
  nginx:
    http_port: {CHALLENGE_PORT}
""")
    os.chmod(answers, 0o600)
    tls = tmp_path / "tls"
    r = run(chatstack, "certs", "ensure", "--answers", answers,
            "--tls-dir", tls, "--responder",
            "--challenge-address", "127.0.0.1")
    assert r.returncode == 0, r.stdout + r.stderr
    cert = leaf(tls)
    assert san(cert) == ["chat.example.com", "www.example.com"]
    key = serialization.load_pem_private_key(
        (tls / "privkey.pem").read_bytes(), None)
    assert key.key_size == 2048
    # Renewal needs only the TLS directory: certs.json kept the rest.
    r = run(chatstack, "certs", "renew", "--force", "--tls-dir", tls)
    assert r.returncode == 0, r.stdout + r.stderr
    assert leaf(tls).serial_number != cert.serial_number
