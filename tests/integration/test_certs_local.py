"""chatstack certs in selfsigned and provided modes: no network, the
files checked as a browser or nginx would."""
import datetime
import ipaddress
import os
import pathlib
import subprocess

import pytest

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover
    x509 = None

pytestmark = pytest.mark.skipif(x509 is None,
                                reason="python3-cryptography not installed")

HOST = "chat.example.com"


def run(*args):
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=120)


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_cert(key, names, issuer_key=None, issuer=None, days=90,
              before=None, ca=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    start = before or now() - datetime.timedelta(hours=1)
    b = (x509.CertificateBuilder()
         .subject_name(name)
         .issuer_name(issuer.subject if issuer else name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(start)
         .not_valid_after(start + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in names]), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture
def ca():
    key = ec.generate_private_key(ec.SECP256R1())
    return key, make_cert(key, ["operator test root"], days=3650, ca=True)


def provide(tmp_path, ca, names=(HOST,), days=90, before=None,
            key=None, key_mode=0o600):
    """Writes an operator's cert.pem, chain.pem and key.pem."""
    cakey, cacert = ca
    leafkey = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(leafkey, list(names), cakey, cacert, days=days,
                     before=before)
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "cert.pem").write_bytes(pem(cert))
    (src / "chain.pem").write_bytes(pem(cacert))
    (src / "key.pem").write_bytes(pem_key(key or leafkey))
    os.chmod(src / "key.pem", key_mode)
    return src


def ensure_provided(chatstack, tmp_path, src, chain=True):
    args = [chatstack, "certs", "ensure", "--mode", "provided",
            "--hostname", HOST, "--cert", src / "cert.pem",
            "--key", src / "key.pem", "--tls-dir", tmp_path / "tls"]
    if chain:
        args += ["--chain", src / "chain.pem"]
    return run(*args)


def test_certs_provided_good_files_are_installed(chatstack, tmp_path, ca):
    src = provide(tmp_path, ca)
    r = ensure_provided(chatstack, tmp_path, src)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "changed:" in r.stdout
    tls = tmp_path / "tls"
    chain = (tls / "fullchain.pem").read_bytes()
    assert chain == (src / "cert.pem").read_bytes() + \
        (src / "chain.pem").read_bytes()
    assert (tls / "privkey.pem").read_bytes() == \
        (src / "key.pem").read_bytes()
    assert os.stat(tls / "privkey.pem").st_mode & 0o777 == 0o600
    r = ensure_provided(chatstack, tmp_path, src)
    assert r.returncode == 0
    assert "ok: kept" in r.stdout
    st = run(chatstack, "certs", "status", "--tls-dir", tls)
    assert "mode:           provided" in st.stdout
    assert "operator test root" in st.stdout
    assert "renewal:        yours" in st.stdout


def refused(chatstack, tmp_path, src, **kw):
    """Runs ensure over an installed good certificate; nothing may change."""
    tls = tmp_path / "tls"
    before = {p.name: p.read_bytes() for p in tls.iterdir()} \
        if tls.exists() else {}
    r = ensure_provided(chatstack, tmp_path, src, **kw)
    assert r.returncode == 1
    after = {p.name: p.read_bytes() for p in tls.iterdir()} \
        if tls.exists() else {}
    assert after == before
    return r.stdout


def test_certs_provided_mismatched_key_is_refused(chatstack, tmp_path, ca):
    other = ec.generate_private_key(ec.SECP256R1())
    out = refused(chatstack, tmp_path, provide(tmp_path, ca, key=other))
    assert "does not match the certificate" in out


def test_certs_provided_expired_certificate_is_refused(chatstack, tmp_path,
                                                       ca):
    src = provide(tmp_path, ca, days=30,
                  before=now() - datetime.timedelta(days=40))
    out = refused(chatstack, tmp_path, src)
    assert "expired on" in out


def test_certs_provided_wrong_name_is_refused(chatstack, tmp_path, ca):
    out = refused(chatstack, tmp_path,
                  provide(tmp_path, ca, names=("other.example.com",)))
    assert f"is not valid for '{HOST}'" in out


def test_certs_provided_key_readable_by_others_is_refused(chatstack,
                                                          tmp_path, ca):
    out = refused(chatstack, tmp_path, provide(tmp_path, ca, key_mode=0o644))
    assert "readable by others" in out
    assert "chmod 600" in out


def test_certs_provided_incomplete_chain_is_refused(chatstack, tmp_path, ca):
    out = refused(chatstack, tmp_path, provide(tmp_path, ca), chain=False)
    assert "does not verify" in out


def test_certs_provided_refusal_leaves_installed_files(chatstack, tmp_path,
                                                       ca):
    good = provide(tmp_path, ca)
    assert ensure_provided(chatstack, tmp_path, good).returncode == 0
    (tmp_path / "bad").mkdir()
    bad = provide(tmp_path / "bad", ca, names=("other.example.com",))
    refused(chatstack, tmp_path, bad)


def test_certs_provided_expiring_soon_warns(chatstack, tmp_path, ca):
    src = provide(tmp_path, ca, days=10)
    r = ensure_provided(chatstack, tmp_path, src)
    assert r.returncode == 0, r.stdout
    assert "within 14 days" in r.stderr


def selfsigned(chatstack, tls, *extra):
    return run(chatstack, "certs", "ensure", "--mode", "selfsigned",
               "--hostname", HOST, "--tls-dir", tls, *extra)


def installed(tls):
    """The installed certificate, its DNS names and its IP addresses."""
    cert = x509.load_pem_x509_certificate((tls / "fullchain.pem")
                                          .read_bytes())
    sans = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return (cert, sorted(sans.get_values_for_type(x509.DNSName)),
            sorted(str(a) for a in sans.get_values_for_type(x509.IPAddress)))


def test_certs_selfsigned_names_modes_and_fingerprint(chatstack, tmp_path):
    tls = tmp_path / "tls"
    r = selfsigned(chatstack, tls, "--name", "www.example.com",
                   "--address", "192.0.2.10", "--address", "2001:db8::1")
    assert r.returncode == 0, r.stdout + r.stderr
    chain, names, addresses = installed(tls)
    assert names == [HOST, "www.example.com"]
    assert addresses == ["192.0.2.10", "2001:db8::1"]
    for name in ("privkey.pem", "ca.key"):
        assert os.stat(tls / name).st_mode & 0o777 == 0o600
    assert os.stat(tls / "ca.crt").st_mode & 0o777 == 0o644

    cacert = x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes())
    bc = cacert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.value.ca is True
    assert isinstance(cacert.public_key(), ec.EllipticCurvePublicKey)
    assert cacert.public_key().curve.name == "secp256r1"
    assert (cacert.not_valid_after - cacert.not_valid_before).days >= 3649
    assert (chain.not_valid_after - chain.not_valid_before).days <= 398
    v = run("openssl", "verify", "-CAfile", tls / "ca.crt",
            tls / "fullchain.pem")
    assert v.returncode == 0, v.stdout + v.stderr

    fp = cacert.fingerprint(hashes.SHA256()).hex().upper()
    want = ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))
    assert f"local CA fingerprint (SHA-256): {want}" in r.stdout
    st = run(chatstack, "certs", "status", "--tls-dir", tls)
    assert f"local CA:       SHA-256 {want}" in st.stdout


def test_certs_selfsigned_second_run_changes_nothing(chatstack, tmp_path):
    tls = tmp_path / "tls"
    assert selfsigned(chatstack, tls, "--address", "192.0.2.10") \
        .returncode == 0
    before = {p.name: p.read_bytes() for p in tls.iterdir()}
    r = selfsigned(chatstack, tls, "--address", "192.0.2.10")
    assert r.returncode == 0
    assert "ok: kept" in r.stdout
    assert {p.name: p.read_bytes() for p in tls.iterdir()} == before


def test_certs_selfsigned_new_name_keeps_the_ca(chatstack, tmp_path):
    tls = tmp_path / "tls"
    assert selfsigned(chatstack, tls, "--address", "192.0.2.10") \
        .returncode == 0
    ca_before = (tls / "ca.crt").read_bytes()
    leaf_before = (tls / "fullchain.pem").read_bytes()
    r = selfsigned(chatstack, tls, "--address", "192.0.2.11")
    assert r.returncode == 0
    assert "changed:" in r.stdout
    assert (tls / "ca.crt").read_bytes() == ca_before
    assert (tls / "fullchain.pem").read_bytes() != leaf_before


def test_certs_selfsigned_uses_host_addresses(chatstack, tmp_path):
    tls = tmp_path / "tls"
    assert selfsigned(chatstack, tls).returncode == 0
    for a in installed(tls)[2]:
        assert not ipaddress.ip_address(a).is_loopback


def test_certs_ensure_needs_mode_and_hostname(chatstack, tmp_path):
    r = run(chatstack, "certs", "ensure", "--tls-dir", tmp_path)
    assert r.returncode == 2
    assert "--mode and --hostname" in r.stderr


def test_certs_status_without_certificate_fails(chatstack, tmp_path):
    r = run(chatstack, "certs", "status", "--tls-dir", tmp_path)
    assert r.returncode == 1
    assert "fullchain.pem" in r.stderr


def write_answers(tmp_path, tls_block):
    answers = tmp_path / "site.yaml"
    answers.write_text(f"version: 1\nhostname: {HOST}\ntls:\n{tls_block}")
    os.chmod(answers, 0o600)
    return answers


def test_certs_selfsigned_from_an_answer_file(chatstack, tmp_path):
    answers = write_answers(tmp_path, "  mode: selfsigned\n"
                            "  extra_names: [www.example.com]\n")
    tls = tmp_path / "tls"
    r = run(chatstack, "certs", "ensure", "--answers", answers,
            "--tls-dir", tls, "--address", "192.0.2.10")
    assert r.returncode == 0, r.stdout + r.stderr
    _, names, addresses = installed(tls)
    assert names == [HOST, "www.example.com"]
    assert addresses == ["192.0.2.10"]


def test_certs_provided_from_an_answer_file_is_refused_with_reason(
        chatstack, tmp_path, ca):
    src = provide(tmp_path, ca, names=("other.example.com",))
    answers = write_answers(
        tmp_path, f"  mode: provided\n  provided:\n"
        f"    cert: {src / 'cert.pem'}\n    key: {src / 'key.pem'}\n"
        f"    chain: {src / 'chain.pem'}\n")
    r = run(chatstack, "certs", "ensure", "--answers", answers,
            "--tls-dir", tmp_path / "tls")
    assert r.returncode == 1
    assert f"is not valid for '{HOST}'" in r.stdout
    assert not (tmp_path / "tls").exists()


def test_certs_bad_answer_file_names_the_place(chatstack, tmp_path):
    answers = write_answers(tmp_path, "  mode: sometimes\n")
    r = run(chatstack, "certs", "ensure", "--answers", answers,
            "--tls-dir", tmp_path / "tls")
    assert r.returncode == 1
    assert "site.yaml:4" in r.stderr


def test_certs_second_run_at_once_is_refused(chatstack, tmp_path):
    import fcntl
    tls = tmp_path / "tls"
    tls.mkdir()
    with open(tls / ".certs.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = selfsigned(chatstack, tls, "--address", "192.0.2.10")
    assert r.returncode == 1
    assert "another chatstack run is changing the certificates" in r.stdout
    assert not (tls / "fullchain.pem").exists()


def test_certs_status_and_renew_follow_the_answers(chatstack, tmp_path):
    tls = tmp_path / "tls"
    answers = write_answers(tmp_path, "  mode: selfsigned\n")
    assert run(chatstack, "certs", "ensure", "--answers", answers,
               "--tls-dir", tls, "--address", "192.0.2.10").returncode == 0
    st = run(chatstack, "certs", "status", "--answers", answers,
             "--tls-dir", tls)
    # The answers' certificate would carry this host's addresses, not
    # 192.0.2.10 alone, unless the host has just that one.
    assert st.returncode == 0
    assert "answers:        " in st.stdout

    more = write_answers(tmp_path, "  mode: selfsigned\n"
                         "  extra_names: [www.example.com]\n")
    st = run(chatstack, "certs", "status", "--answers", more,
             "--tls-dir", tls, "--json")
    import json
    j = json.loads(st.stdout)
    assert j["fits_answers"] is False
    assert "names differ" in j["answers_reason"]

    r = run(chatstack, "certs", "renew", "--answers", more,
            "--tls-dir", tls, "--address", "192.0.2.10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "changed:" in r.stdout
    assert installed(tls)[1] == [HOST, "www.example.com"]
    j = json.loads((tls / "renewal.json").read_text())
    assert j["ok"] is True and j["changed"] is True


def test_certs_failed_nginx_reload_is_retried_next_time(chatstack, tmp_path):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: the test would reload the real "
                    "nginx")
    tls = tmp_path / "tls"
    assert selfsigned(chatstack, tls, "--address", "192.0.2.10") \
        .returncode == 0
    # systemctl cannot reload anything on a host without systemd.
    r = run(chatstack, "certs", "renew", "--force", "--reload",
            "--tls-dir", tls)
    assert r.returncode == 1
    assert "the certificate changed but nginx did not reload" in r.stdout
    assert (tls / ".reload-pending").exists()
    # Not due and unchanged, but nginx still has the old certificate.
    r = run(chatstack, "certs", "renew", "--reload", "--tls-dir", tls)
    assert r.returncode == 1
    assert "nginx did not reload" in r.stdout
    # Without --reload nothing is attempted.
    r = run(chatstack, "certs", "renew", "--tls-dir", tls)
    assert r.returncode == 0
