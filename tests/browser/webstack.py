"""A throwaway chat stack on loopback for the browser test and the bench.

MariaDB, Redis, RabbitMQ, chatd and nginx (serving chat/web and proxying
/api and /ws to chatd), each started from its Debian binary with its own
data under one temporary folder and its own port from a base the caller
picks (the web engineer's range is 25000-25999). Nothing listens on a
wildcard address; stop() ends exactly the processes it started.

Used by tests/integration/test_web_browser.py and bench/chatd/run.
"""

import base64
import hashlib
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BUILD", TOP / "build"))
WEB = TOP / "chat" / "web"

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
MARIADB = "/usr/bin/mariadb"
REDIS = "/usr/bin/redis-server"
RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
NGINX = "/usr/sbin/nginx"
EPMD = "/usr/bin/epmd"


class StackError(Exception):
    """A service could not start; the message says which and why."""


def missing_binaries(with_chatd=True):
    """Names of the programs this stack needs that are not installed."""
    need = [MARIADBD, INSTALL_DB, MARIADB, REDIS, RABBIT, EPMD, NGINX]
    if with_chatd:
        need.append(str(BUILD / "chatd"))
    return [p for p in need if not os.access(p, os.X_OK)]


def wait_port(port, proc, what, timeout=60.0):
    """Waits until 127.0.0.1:port accepts, or the process died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise StackError(f"{what} did not listen on 127.0.0.1:{port} "
                     f"within {timeout:.0f} s")


def port_free(port):
    with socket.socket() as s:
        # Servers bind with SO_REUSEADDR; so does this check, or
        # TIME_WAIT leftovers of a previous run would count as busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def rabbit_hash(password):
    """A RabbitMQ sha256 password hash, for the definitions file."""
    salt = secrets.token_bytes(4)
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


class Stack:
    """Ports: base+0 MariaDB, +1 Redis, +2 AMQP, +3 Erlang distribution,
    +4 epmd, +10.. chatd instances, +20 nginx."""

    def __init__(self, base, instances=1, chatd_overrides=None):
        self.base = base
        self.instances = instances
        self.chatd_overrides = chatd_overrides or {}
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"chatstack-web-{base}-"))
        self.procs = []
        self.chatd = []
        self.db_password = secrets.token_hex(16)
        self.redis_password = secrets.token_hex(16)
        self.amqp_password = secrets.token_hex(16)
        self.mariadb_port = base
        self.redis_port = base + 1
        self.amqp_port = base + 2
        self.dist_port = base + 3
        self.epmd_port = base + 4
        self.chatd_ports = [base + 10 + i for i in range(instances)]
        self.nginx_port = base + 20
        self.env_extra = {}

    # Lifecycle.

    def start(self, with_chatd=True, with_nginx=True):
        ports = [self.mariadb_port, self.redis_port, self.amqp_port,
                 self.dist_port, self.epmd_port, self.nginx_port]
        ports += self.chatd_ports
        busy = [p for p in ports if not port_free(p)]
        if busy:
            raise StackError(f"ports already in use: {busy}")
        try:
            self.start_mariadb()
            self.start_redis()
            self.start_rabbitmq()
            if with_chatd:
                for i in range(self.instances):
                    self.start_chatd(i)
            if with_nginx:
                self.start_nginx()
        except Exception:
            self.stop()
            raise
        return self

    def spawn(self, name, argv, env=None, cwd=None):
        log = open(self.dir / f"{name}.log", "ab")
        penv = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        if env:
            penv.update(env)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=penv, cwd=cwd,
                                start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop(self):
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        self.procs = []
        if os.environ.get("CHATSTACK_KEEP_STACK"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.exists():
            time.sleep(0.5)
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self, name, tail=40):
        path = self.dir / f"{name}.log"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # MariaDB.

    def start_mariadb(self):
        data = self.dir / "mariadb"
        data.mkdir()
        sock = self.dir / "mariadb.sock"
        self.mariadb_socket = sock
        r = subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={data}",
                            "--user=root", "--auth-root-authentication-method=socket",
                            "--skip-test-db"],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise StackError(f"mariadb-install-db failed: {r.stderr[-500:]}")
        proc = self.spawn("mariadb", [
            MARIADBD, "--no-defaults", f"--datadir={data}", "--user=root",
            f"--socket={sock}", f"--port={self.mariadb_port}",
            "--bind-address=127.0.0.1", f"--pid-file={self.dir}/mariadb.pid",
            "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=256M",
            "--innodb-flush-log-at-trx-commit=2", "--max-connections=500",
            "--skip-name-resolve", "--log-error=" + str(self.dir / "mariadb.err")])
        wait_port(self.mariadb_port, proc, "mariadbd", 120)
        sql = (
            "CREATE DATABASE chat CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\n"
            f"CREATE USER 'chatd'@'127.0.0.1' IDENTIFIED BY '{self.db_password}';\n"
            "GRANT ALL ON chat.* TO 'chatd'@'127.0.0.1';\n")
        r = subprocess.run([MARIADB, "--no-defaults", f"--socket={sock}", "-uroot"],
                           input=sql, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise StackError(f"cannot create the chat database: {r.stderr[-500:]}")

    # Redis.

    def start_redis(self):
        conf = self.dir / "redis.conf"
        conf.write_text(
            f"port {self.redis_port}\nbind 127.0.0.1\nprotected-mode yes\n"
            f"dir {self.dir}\nsave \"\"\nappendonly no\n"
            f"requirepass {self.redis_password}\nmaxclients 20000\n")
        conf.chmod(0o600)
        proc = self.spawn("redis", [REDIS, str(conf)])
        wait_port(self.redis_port, proc, "redis-server")

    # RabbitMQ.

    def start_rabbitmq(self):
        rdir = self.dir / "rabbitmq"
        (rdir / "mnesia").mkdir(parents=True)
        (rdir / "log").mkdir()
        home = rdir / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        defs = {
            "users": [{"name": "chatd",
                       "password_hash": rabbit_hash(self.amqp_password),
                       "hashing_algorithm": "rabbit_password_hashing_sha256",
                       "tags": []}],
            "vhosts": [{"name": "chat"}],
            "permissions": [{"user": "chatd", "vhost": "chat",
                             "configure": ".*", "write": ".*", "read": ".*"}],
        }
        (rdir / "definitions.json").write_text(json.dumps(defs))
        (rdir / "definitions.json").chmod(0o600)
        (rdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n"
            f"load_definitions = {rdir}/definitions.json\n"
            "loopback_users = none\n"
            f"distribution.listener.interface = 127.0.0.1\n")
        env = {
            "HOME": str(home),
            "RABBITMQ_NODENAME": f"chatweb{self.base}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(rdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(rdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(rdir / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(rdir / "enabled_plugins"),
            "RABBITMQ_ENABLED_PLUGINS": "",
            "RABBITMQ_PID_FILE": str(rdir / "rabbit.pid"),
            "RABBITMQ_LOGS": "-",
        }
        (rdir / "enabled_plugins").write_text("[].\n")
        # Our own epmd, in the foreground: the one RabbitMQ would start
        # daemonizes and outlives stop().
        epmd = self.spawn("epmd", [EPMD, "-port", str(self.epmd_port),
                                   "-address", "127.0.0.1"])
        wait_port(self.epmd_port, epmd, "epmd")
        proc = self.spawn("rabbitmq", [RABBIT], env=env, cwd=str(rdir))
        self.rabbit_env = env
        wait_port(self.amqp_port, proc, "rabbitmq-server", 120)

    # chatd.

    def chatd_config(self, i):
        """Writes chatd's config for instance i (docs/chatd.md); returns
        its path. Secrets go to files beside it, mode 0600."""
        cdir = self.dir / "chatd"
        cdir.mkdir(exist_ok=True)
        for name, value in (("db", self.db_password),
                            ("redis", self.redis_password),
                            ("amqp", self.amqp_password)):
            f = cdir / f"{name}.password"
            f.write_text(value + "\n")
            f.chmod(0o600)
        keys = {
            "listen_address": "127.0.0.1",
            "listen_port": self.chatd_ports[i],
            "instance_id": str(i + 1),
            "db_host": "127.0.0.1",
            "db_port": self.mariadb_port,
            "db_name": "chat",
            "db_user": "chatd",
            "db_password_file": cdir / "db.password",
            "redis_host": "127.0.0.1",
            "redis_port": self.redis_port,
            "redis_password_file": cdir / "redis.password",
            "amqp_host": "127.0.0.1",
            "amqp_port": self.amqp_port,
            "amqp_vhost": "chat",
            "amqp_user": "chatd",
            "amqp_password_file": cdir / "amqp.password",
            "trust_forwarded": "yes",
        }
        keys.update(self.chatd_overrides)
        path = cdir / f"chatd{i + 1}.conf"
        path.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
        return path

    def start_chatd(self, i):
        path = self.chatd_config(i)
        proc = self.spawn(f"chatd{i + 1}", [str(BUILD / "chatd"), "-c", str(path)])
        self.chatd.append(proc)
        self.wait_ready(i, proc)

    def wait_ready(self, i, proc):
        port = self.chatd_ports[i]
        wait_port(port, proc, f"chatd instance {i + 1}", 60)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz",
                                            timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise StackError(f"chatd instance {i + 1} did not become ready: "
                         f"{self.log(f'chatd{i + 1}', 10)}")

    def stop_chatd(self, i):
        """Stops chatd instance i with SIGTERM and waits for it."""
        proc = self.chatd[i]
        proc.terminate()
        proc.wait(timeout=30)

    def restart_chatd(self, i):
        """Starts chatd instance i again, with the same config."""
        path = self.dir / "chatd" / f"chatd{i + 1}.conf"
        proc = self.spawn(f"chatd{i + 1}", [str(BUILD / "chatd"), "-c", str(path)])
        self.chatd[i] = proc
        self.wait_ready(i, proc)

    # nginx.

    def start_nginx(self):
        ndir = self.dir / "nginx"
        ndir.mkdir()
        upstream = "\n".join(f"        server 127.0.0.1:{p};" for p in self.chatd_ports)
        conf = f"""
worker_processes 1;
daemon off;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {ndir}/body;
    proxy_temp_path {ndir}/proxy;
    fastcgi_temp_path {ndir}/fastcgi;
    uwsgi_temp_path {ndir}/uwsgi;
    scgi_temp_path {ndir}/scgi;
    include /etc/nginx/mime.types;
    upstream chatd {{
{upstream}
        keepalive 16;
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    server {{
        listen 127.0.0.1:{self.nginx_port};
        server_name localhost;
        root {WEB};
        index index.html;
        location / {{
            try_files $uri $uri/ /index.html;
        }}
        location /api/ {{
            proxy_pass http://chatd;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            client_max_body_size 64k;
        }}
        location = /ws {{
            proxy_pass http://chatd;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""
        path = ndir / "nginx.conf"
        path.write_text(conf)
        r = subprocess.run([NGINX, "-t", "-e", str(ndir / "error.log"), "-p", str(ndir), "-c", str(path)],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise StackError(f"nginx -t refused the test config: {r.stderr[-500:]}")
        proc = self.spawn("nginx", [NGINX, "-e", str(ndir / "error.log"), "-p", str(ndir), "-c", str(path)])
        wait_port(self.nginx_port, proc, "nginx")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.nginx_port}"
