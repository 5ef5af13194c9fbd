"""Pebble (Let's Encrypt's test CA) and pebble-challtestsrv for the tests:
a certificate for Pebble's own listener made at test time, the two
processes started on loopback, waited for and stopped. Shared by the
integration tests of certs/ and the e2e test of a letsencrypt install."""
import datetime
import ipaddress
import json
import shutil
import socket
import subprocess
import time

import pytest

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover
    x509 = None

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")

# Module marks for a test file that needs both.
MARKS = [
    pytest.mark.skipif(PEBBLE is None or CHALLTESTSRV is None,
                       reason="pebble not installed (Debian package pebble)"),
    pytest.mark.skipif(x509 is None,
                       reason="python3-cryptography not installed"),
]


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_cert(subject_key, names, issuer_key=None, issuer_name=None,
              before=None, after=None, ca=False):
    """A certificate for names (DNS names or IP addresses), self-signed
    unless an issuer is given; the first name is its common name."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    b = (x509.CertificateBuilder()
         .subject_name(name)
         .issuer_name(issuer_name or name)
         .public_key(subject_key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(before or now() - datetime.timedelta(hours=1))
         .not_valid_after(after or now() + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if not ca:
        sans = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key or subject_key, hashes.SHA256())


def listener_tls(work, root_name):
    """Writes ca.pem, pebble-cert.pem and pebble-key.pem (0600) into work:
    a root and the certificate it issues for Pebble's listener on
    localhost and 127.0.0.1."""
    cakey = ec.generate_private_key(ec.SECP256R1())
    ca = make_cert(cakey, [root_name], ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(key, ["localhost", "127.0.0.1"], cakey, ca.subject)
    (work / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (work / "pebble-cert.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM))
    (work / "pebble-key.pem").write_bytes(pem_key(key))
    (work / "pebble-key.pem").chmod(0o600)


def port_free(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return
    pytest.fail(f"127.0.0.1:{port} is already in use; stop what listens")


def wait_port(port, proc, log):
    for _ in range(100):
        if proc.poll() is not None:
            pytest.fail(f"exited early: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing listens on 127.0.0.1:{port}: {log.read_text()}")


def start_challtestsrv(work, dns_port, mgmt_port):
    """The DNS server Pebble asks: every name is 127.0.0.1."""
    log = work / "challtestsrv.log"
    proc = subprocess.Popen(
        [CHALLTESTSRV, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
         "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-tlsalpn01", "",
         "-https01", "", "-management", f"127.0.0.1:{mgmt_port}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_port(mgmt_port, proc, log)
    except BaseException:
        stop([proc])
        raise
    return proc


def start_pebble(work, name, port, mgmt, http_port, tls_port, dns_port,
                 eab_keys=None, env=None):
    """Pebble on 127.0.0.1:port (directory at /dir), management on mgmt,
    validating http-01 on http_port; its log is work/name.log."""
    cfg = {"pebble": {
        "listenAddress": f"127.0.0.1:{port}",
        "managementListenAddress": f"127.0.0.1:{mgmt}",
        "certificate": str(work / "pebble-cert.pem"),
        "privateKey": str(work / "pebble-key.pem"),
        "httpPort": http_port,
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": eab_keys is not None,
    }}
    if eab_keys is not None:
        cfg["pebble"]["externalAccountMACKeys"] = eab_keys
    (work / f"{name}.json").write_text(json.dumps(cfg))
    log = work / f"{name}.log"
    proc = subprocess.Popen(
        [PEBBLE, "-config", str(work / f"{name}.json"),
         "-dnsserver", f"127.0.0.1:{dns_port}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1",
             **(env or {})})
    try:
        wait_port(port, proc, log)
        wait_port(mgmt, proc, log)
    except BaseException:
        stop([proc])
        raise
    return proc


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
