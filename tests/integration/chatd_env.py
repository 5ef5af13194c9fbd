"""Real MariaDB, Redis and RabbitMQ for the chatd tests, plus chatd
instances and a tiny RFC 6455 client (standard library only).

Everything listens on 127.0.0.1 in ports 20000-20999 (CHATD_TEST_PORT_BASE
moves the block, e.g. 26000 for 26000-26999) and keeps its data
in one temporary directory; the services start once per test session
(the first test that asks) and stop when the interpreter exits.
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BUILD", TOP / "build"))
CHATD = BUILD / "chatd"

HOST = "127.0.0.1"
PORT_BASE = int(os.environ.get("CHATD_TEST_PORT_BASE", "20000"))
MARIADB_PORT = PORT_BASE + 306
REDIS_PORT = PORT_BASE + 379
AMQP_PORT = PORT_BASE + 672
EPMD_PORT = PORT_BASE + 369
DIST_PORT = PORT_BASE + 670
CHATD_PORTS = range(PORT_BASE + 81, PORT_BASE + 99)


def port(n):
    """Port n of the default 20000 block, moved with the base."""
    return PORT_BASE + n - 20000

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
MARIADB = "/usr/bin/mariadb"
REDIS = "/usr/bin/redis-server"
RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def wait_port(port, timeout, proc=None, what="service"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port}")


def rabbit_password_hash(password):
    salt = os.urandom(4)
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


class Services:
    """MariaDB, Redis and RabbitMQ in one temporary directory."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="chatd-test-"))
        self.procs = {}
        self.logs = []
        self.db_password = uuid.uuid4().hex
        self.redis_password = uuid.uuid4().hex
        self.amqp_password = uuid.uuid4().hex
        self.secrets = self.dir / "secrets"
        self.secrets.mkdir(mode=0o700)
        for name in ("db", "redis", "amqp"):
            path = self.secrets / name
            path.write_text(getattr(self, name + "_password") + "\n")
            path.chmod(0o600)

    def log(self, name):
        f = open(self.dir / f"{name}.log", "ab")
        self.logs.append(f)
        return f

    def start(self):
        self.start_mariadb()
        self.start_redis()
        self.start_rabbitmq()
        wait_port(REDIS_PORT, 20, self.procs["redis"], "redis")
        self.finish_mariadb()
        wait_port(AMQP_PORT, 90, self.procs["rabbitmq"], "rabbitmq")

    def start_mariadb(self):
        data = self.dir / "mariadb"
        data.mkdir()
        subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={data}",
                        "--user=root", "--skip-test-db",
                        "--auth-root-authentication-method=socket"],
                       check=True, stdout=self.log("mariadb-install"),
                       stderr=subprocess.STDOUT)
        self.mysock = str(self.dir / "mariadb.sock")
        self.procs["mariadb"] = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={data}",
             f"--socket={self.mysock}", f"--port={MARIADB_PORT}",
             f"--bind-address={HOST}", "--user=root",
             f"--pid-file={self.dir}/mariadb.pid",
             "--innodb-buffer-pool-size=64M", "--skip-log-bin",
             # As the installer sets it: every commit reaches the disk.
             "--innodb-flush-log-at-trx-commit=1",
             f"--log-error={self.dir}/mariadb-error.log"],
            stdout=self.log("mariadb"), stderr=subprocess.STDOUT)

    def finish_mariadb(self):
        wait_port(MARIADB_PORT, 60, self.procs["mariadb"], "mariadb")
        sql = ("CREATE DATABASE IF NOT EXISTS chat CHARACTER SET utf8mb4;"
               f"CREATE USER IF NOT EXISTS 'chatd'@'127.0.0.1' "
               f"IDENTIFIED BY '{self.db_password}';"
               "GRANT ALL ON chat.* TO 'chatd'@'127.0.0.1';")
        subprocess.run([MARIADB, f"--socket={self.mysock}", "-uroot"],
                       input=sql.encode(), check=True,
                       stdout=self.log("mariadb-setup"),
                       stderr=subprocess.STDOUT)

    def sql(self, query):
        out = subprocess.run([MARIADB, f"--socket={self.mysock}", "-uroot",
                              "-N", "-B", "chat"], input=query.encode(),
                             check=True, capture_output=True)
        return out.stdout.decode()

    def start_redis(self):
        conf = self.dir / "redis.conf"
        conf.write_text(f"port {REDIS_PORT}\nbind {HOST}\n"
                        f"dir {self.dir}\nsave \"\"\nappendonly no\n"
                        f"requirepass {self.redis_password}\n"
                        "daemonize no\n")
        conf.chmod(0o600)
        self.procs["redis"] = subprocess.Popen(
            [REDIS, str(conf)], stdout=self.log("redis"),
            stderr=subprocess.STDOUT)

    def start_rabbitmq(self):
        base = self.dir / "rabbitmq"
        base.mkdir()
        defs = base / "definitions.json"
        defs.write_text(json.dumps({
            "users": [{"name": "chatd", "tags": "",
                       "password_hash": rabbit_password_hash(
                           self.amqp_password),
                       "hashing_algorithm":
                           "rabbit_password_hashing_sha256"}],
            "vhosts": [{"name": "/"}],
            "permissions": [{"user": "chatd", "vhost": "/",
                             "configure": ".*", "write": ".*",
                             "read": ".*"}],
        }))
        conf = base / "rabbitmq.conf"
        conf.write_text(f"listeners.tcp.default = {HOST}:{AMQP_PORT}\n"
                        f"load_definitions = {defs}\n"
                        "loopback_users = none\n"
                        "log.console = false\n"
                        f"log.file.level = warning\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "env.conf").write_text("")
        home = base / "home"
        home.mkdir()
        env = {
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(home),
            "RABBITMQ_NODENAME": "chatdtest@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(AMQP_PORT),
            "RABBITMQ_DIST_PORT": str(DIST_PORT),
            "ERL_EPMD_PORT": str(EPMD_PORT),
            "ERL_EPMD_ADDRESS": HOST,
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(conf),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
            "RABBITMQ_SERVER_ERL_ARGS": "+A 4",
        }
        self.procs["rabbitmq"] = subprocess.Popen(
            [RABBIT], env=env, stdout=self.log("rabbitmq"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.rabbit_env = env

    def stop(self):
        for name, proc in self.procs.items():
            if proc.poll() is None:
                if name == "rabbitmq":
                    os.killpg(proc.pid, signal.SIGTERM)
                else:
                    proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                if name == "rabbitmq":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
                proc.wait()
        # epmd outlives the broker; it is ours (our port), end it by pid.
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{EPMD_PORT}"],
                             capture_output=True, text=True).stdout
        for part in out.split("pid=")[1:]:
            pid = int(part.split(",")[0])
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for f in self.logs:
            f.close()
        if not os.environ.get("CHATD_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


_services = None
_failed = None


def missing_binaries():
    for path in (MARIADBD, INSTALL_DB, MARIADB, REDIS, RABBIT):
        if not os.access(path, os.X_OK):
            return path
    return None


def services():
    """The shared services, started on first use; skips when absent."""
    global _services, _failed
    if not CHATD.exists():
        pytest.skip(f"{CHATD} is not built")
    missing = missing_binaries()
    if missing:
        pytest.skip(f"{missing} is not installed")
    if _failed:
        pytest.skip(f"services did not start: {_failed}")
    if _services is None:
        s = Services()
        atexit.register(s.stop)
        try:
            s.start()
        except Exception as e:  # noqa: BLE001 - report any start failure
            _failed = str(e)
            pytest.fail(f"services did not start: {e} (logs in {s.dir})")
        _services = s
    return _services


class Chatd:
    """One chatd instance with its own configuration file."""

    def __init__(self, svc, instance, port, **overrides):
        self.svc = svc
        self.instance = str(instance)
        self.port = port
        self.proc = None
        self.conf = svc.dir / f"chatd-{instance}.conf"
        settings = {
            "listen_address": HOST,
            "listen_port": port,
            "instance_id": self.instance,
            "workers": 4,
            "log_level": "info",
            "db_host": HOST,
            "db_port": MARIADB_PORT,
            "db_name": "chat",
            "db_user": "chatd",
            "db_password_file": svc.secrets / "db",
            "redis_host": HOST,
            "redis_port": REDIS_PORT,
            "redis_password_file": svc.secrets / "redis",
            "amqp_host": HOST,
            "amqp_port": AMQP_PORT,
            "amqp_user": "chatd",
            "amqp_password_file": svc.secrets / "amqp",
            "argon2_ops": 1,
            "argon2_mem_kib": 8192,
            "register_rate": 100000,
            "login_rate": 100000,
            "send_rate": 100000,
            "send_burst": 100000,
            "trust_forwarded": "yes",
        }
        settings.update(overrides)
        self.conf.write_text("# chatd test instance\n" + "".join(
            f"{k} = {v}\n" for k, v in settings.items()))
        self.logpath = svc.dir / f"chatd-{instance}.log"

    def start(self, wait_ready=True):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([str(CHATD), "-c", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_port(self.port, 30, self.proc, f"chatd {self.instance}")
        if wait_ready:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                status, _ = self.request("GET", "/readyz")
                if status == 200:
                    return self
                time.sleep(0.2)
            raise RuntimeError(f"chatd {self.instance} never got ready")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        return self.logpath.read_text(errors="replace")

    def request(self, method, path, body=None, token=None, headers=None,
                raw=None):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        if "json" in ctype:
            return resp.status, json.loads(text)
        return resp.status, text.decode(errors="replace")

    def api(self, method, path, body=None, token=None, **kw):
        return self.request(method, "/api/v1" + path, body, token, **kw)

    def ws(self, token=None):
        c = WSClient(self.port)
        if token is not None:
            c.send_json({"type": "auth", "token": token})
            reply = c.recv_json()
            assert reply["type"] == "auth_ok", reply
        return c


class WSClosed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class WSClient:
    """A small RFC 6455 client: masked text frames, close, ping."""

    def __init__(self, port, path="/ws", timeout=10, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n")[0]
        if b" 101 " not in status:
            raise ConnectionError(f"handshake refused: {status!r}")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()
        ).digest())
        assert accept in head
        self.closed = None

    def send_frame(self, opcode, payload, fin=True):
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text):
        self.send_frame(1, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WSClosed(1006, "connection lost")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self._read(2)
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return opcode, self._read(n)

    def recv_json(self, timeout=10):
        self.sock.settimeout(timeout)
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 1:
                return json.loads(payload)
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                self.closed = code
                raise WSClosed(code, payload[2:].decode(errors="replace"))
            if opcode == 9:
                self.send_frame(10, payload)

    def recv_until(self, pred, timeout=10):
        """Frames up to and including the first that pred accepts."""
        end = time.monotonic() + timeout
        seen = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching frame; saw {seen}")
            f = self.recv_json(timeout=left)
            seen.append(f)
            if pred(f):
                return seen

    def expect_close(self, timeout=10):
        try:
            while True:
                self.recv_json(timeout=timeout)
        except WSClosed as e:
            return e.code

    def close(self):
        try:
            self.send_frame(8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


_counter = [0]


def unique(prefix="u"):
    _counter[0] += 1
    return f"{prefix}{os.getpid() % 10000}x{_counter[0]}x{uuid.uuid4().hex[:6]}"


def register(chatd, name=None, password="correct horse"):
    name = name or unique()
    # A fresh client address each time, so the per-address register
    # limit of the small-limits instance is not what a test hits.
    addr = "10.%d.%d.%d" % tuple(os.urandom(3))
    status, body = chatd.api("POST", "/register",
                             {"username": name, "password": password},
                             headers={"X-Real-IP": addr})
    assert status == 201, body
    return body["user"], body["token"]


def befriend(chatd, a_token, b_user, b_token):
    status, body = chatd.api("POST", "/friends/requests",
                             {"user_id": b_user["id"]}, a_token)
    assert status == 201, body
    rid = body["request"]["id"]
    status, body = chatd.api("POST", f"/friends/requests/{rid}/accept",
                             None, b_token)
    assert status == 200, body
    return body["conversation_id"]


_instances = {}


def instance(key, port, **overrides):
    """A chatd instance started once per session under key."""
    svc = services()
    c = _instances.get(key)
    if c is None or c.proc is None or c.proc.poll() is not None:
        c = Chatd(svc, overrides.pop("instance_id", key), port, **overrides)
        atexit.register(c.kill)
        c.start()
        _instances[key] = c
    return c


def shared_chatd():
    return instance("1", port(20081))


def instance_pair():
    """Two more instances (ids 2 and 3), for what crosses between them."""
    return instance("2", port(20082)), instance("3", port(20083))


def of_type(kind):
    """A frame test for WSClient.recv_until: frames of this type."""
    return lambda f: f.get("type") == kind


def error_code(body):
    return body["error"]["code"]


def limited_chatd():
    """An instance with small limits for the rate-limit tests."""
    return instance("lim", port(20089), register_rate=2, login_rate=3,
                    send_rate=2, send_burst=3, send_queue_max=8,
                    max_frame_bytes=4096, max_body_bytes=4096)
