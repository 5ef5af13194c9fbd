"""`chatstack verify` (installer/step-verify.c, wsclient.c) against a real
loopback stack: chatd with MariaDB, Redis and RabbitMQ (chatd_env) behind
nginx over TLS for a test name, with a CA the test makes. The check
registers two users through nginx, sends a message over the WebSocket
(libwebsockets) and deletes both through DELETE /api/v1/account."""

import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

import chatd_env
from chatd_env import Chatd

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHATSTACK = ROOT / "build" / "chatstack"
HOST = "chat.test"
HTTPS_PORT = chatd_env.port(20443)
CHATD_PORT = chatd_env.port(20094)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
            cwd=d)


def make_server_cert(d):
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", f"/CN={HOST}", cwd=d)
    (d / "ext.cnf").write_text(f"subjectAltName = DNS:{HOST}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt",
            "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
            "-days", "2", "-extfile", "ext.cnf", cwd=d)


NGINX_CONF = """daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
	access_log off;
	client_body_temp_path {d}/tmp;
	proxy_temp_path {d}/tmp;
	map $http_upgrade $conn {{ default upgrade; '' close; }}
	server {{
		listen 127.0.0.1:{https} ssl;
		server_name {host};
		ssl_certificate {d}/server.crt;
		ssl_certificate_key {d}/server.key;
		location /api/ {{
			proxy_pass http://127.0.0.1:{chatd};
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Real-IP $remote_addr;
		}}
		location = /ws {{
			proxy_pass http://127.0.0.1:{chatd};
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection $conn;
			proxy_set_header X-Real-IP $remote_addr;
		}}
	}}
}}
"""


@pytest.fixture(scope="module")
def site():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.skip("nginx is not installed")
    if not CHATSTACK.exists():
        pytest.skip("build/chatstack is not built (make)")
    svc = chatd_env.services()
    chatd = Chatd(svc, "verify", CHATD_PORT).start()
    d = pathlib.Path(tempfile.mkdtemp(prefix="chatstack-verify-"))
    proc = None
    try:
        make_server_cert(d)
        (d / "tmp").mkdir()
        conf = NGINX_CONF.format(d=d, https=HTTPS_PORT, host=HOST,
                                 chatd=CHATD_PORT)
        (d / "nginx.conf").write_text(conf)
        proc = subprocess.Popen([nginx, "-p", str(d), "-c",
                                 str(d / "nginx.conf"), "-e",
                                 str(d / "error.log")],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        chatd_env.wait_port(HTTPS_PORT, 20, proc, "nginx")
        yield svc, d, chatd
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        chatd.kill()
        shutil.rmtree(d, ignore_errors=True)


def verify(d, ca, root=None, https_port=HTTPS_PORT):
    root = root or d / f"root-{ca}-{time.monotonic_ns()}"
    tls = root / "etc" / "chatstack" / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    shutil.copy(d / f"{ca}.crt", tls / "ca.crt")
    answers = root / "answers.yaml"
    answers.write_text(f"version: 1\nhostname: {HOST}\n"
                       f"components:\n  nginx:\n"
                       f"    https_port: {https_port}\n")
    answers.chmod(0o600)
    return subprocess.run([str(CHATSTACK), "verify", "--root", str(root),
                           "--answers", str(answers)],
                          capture_output=True, text=True, timeout=120)


def check_users(svc):
    return int(svc.sql("SELECT COUNT(*) FROM users "
                       "WHERE username LIKE 'zz-check-%'").strip())


def test_verify_check_passes_over_tls_and_deletes_its_users(site):
    svc, d, _ = site
    before = check_users(svc)
    r = verify(d, "ca")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exchanged a message over the WebSocket" in r.stdout, r.stdout
    assert r.stderr == "", r.stderr
    assert "could not delete" not in r.stdout + r.stderr
    assert check_users(svc) == before


def test_verify_check_refuses_a_certificate_of_another_ca(site):
    svc, d, _ = site
    r = verify(d, "other-ca")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "end-to-end check failed" in r.stderr
    assert "certificate" in r.stderr.lower(), r.stderr


PENDING = pathlib.Path("var/lib/chatstack/e2e-users.json")


def users_named(svc, name):
    return int(svc.sql("SELECT COUNT(*) FROM users "
                       f"WHERE username = '{name}'").strip())


def test_verify_deletes_the_users_an_earlier_check_left(site):
    svc, d, chatd = site
    left = chatd_env.unique("zz-check-left")
    chatd_env.register(chatd, left, "left-behind-pw")
    root = d / f"root-left-{time.monotonic_ns()}"
    (root / PENDING).parent.mkdir(parents=True)
    (root / PENDING).write_text(json.dumps([
        {"username": left, "password": "left-behind-pw"},
        # Its registration never reached chatd: login says 401, done.
        {"username": chatd_env.unique("zz-check-ghost"),
         "password": "never-registered"}]))
    (root / PENDING).chmod(0o600)
    assert users_named(svc, left) == 1
    r = verify(d, "ca", root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert users_named(svc, left) == 0
    assert not (root / PENDING).exists()


def test_verify_cut_short_keeps_its_users_for_the_next_check(site):
    svc, d, _ = site
    root = d / f"root-short-{time.monotonic_ns()}"
    # Nothing listens there: the first registration fails.
    r = verify(d, "ca", root, https_port=chatd_env.port(20095))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the next check will" in r.stdout + r.stderr
    assert (root / PENDING).stat().st_mode & 0o777 == 0o600
    kept = json.loads((root / PENDING).read_text())
    assert len(kept) == 1 and kept[0]["username"].startswith("zz-check-")
    assert kept[0]["password"] not in r.stdout + r.stderr
    r = verify(d, "ca", root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (root / PENDING).exists()
