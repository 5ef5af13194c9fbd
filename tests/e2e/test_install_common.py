"""Shared by the install end-to-end tests (no tests here).

An installed target is a fresh Debian 12 target booted offline (a private
network namespace with only loopback, no apt source), with the release
artifact from `make dist` unpacked under /opt/chatstack-release and the
stack installed from it with an answer file. Everything skips with a reason
when a part is missing: no root or nspawn, no scripts/target, no artifact.
"""

import json
import uuid

import pytest

from conftest import TOP, Target, target_unavailable

REL = "/opt/chatstack-release"
HOSTNAME = "chat.e2e.localhost"
ANSWERS = f"""version: 1
profile: small
hostname: {HOSTNAME}
bind_address: 127.0.0.1
tls:
  mode: selfsigned
components:
  chatd: {{ instances: 2, port: 8081 }}
"""
SECRETS = ["mariadb-chatd", "redis-chatd", "rabbitmq-chatd",
           "erlang-cookie", "chatd-session-key"]
UNITS = ["mariadb.service", "redis-server.service",
         "rabbitmq-server.service", "chatd@1.service", "chatd@2.service",
         "nginx.service"]
# Files chatstack writes; a second run must leave their mtimes alone.
CONFIGS = ["/etc/mysql/mariadb.conf.d/60-chatstack.cnf",
           "/etc/redis/redis.conf", "/etc/redis/users.acl",
           "/etc/rabbitmq/rabbitmq.conf", "/etc/rabbitmq/definitions.json",
           "/etc/rabbitmq/rabbitmq-env.conf",
           "/etc/nginx/conf.d/chatstack.conf",
           "/etc/systemd/system/chatd@.service",
           "/etc/chatstack/chatd/1.conf", "/etc/chatstack/chatd/2.conf",
           "/etc/chatstack/tls/fullchain.pem",
           "/var/lib/rabbitmq/.erlang.cookie"]


def release_artifact():
    """The newest dist/chatstack-*-debian12-*.tar.gz, or skips."""
    arts = sorted((TOP / "dist").glob("chatstack-*-debian12-*.tar.gz"),
                  key=lambda p: p.stat().st_mtime)
    if not arts:
        pytest.skip("no release artifact in dist/: run 'make dist' "
                    "(the bundles part builds it)")
    return arts[-1]


def new_target(answers=ANSWERS, network=False, files=()):
    """A fresh target with the release unpacked and answers in
    /root/site.yaml, no apt source; or skips. It is offline unless
    network is set (then it shares the host's network, for services the
    test runs on the host's loopback). files: (host path, target path)
    pairs copied in before anything else."""
    why = target_unavailable()
    if why:
        pytest.skip(why)
    art = release_artifact()
    t = Target(f"cs-inst-{uuid.uuid4().hex[:8]}")
    try:
        t.create()
        t.offline()
        t.boot(offline=not network)
        t.copy(art, "/root/release.tar.gz")
        for src, dst in files:
            t.copy(src, dst)
        t.run("sh", "-c",
              f"mkdir -p {REL} && tar -xzf /root/release.tar.gz -C {REL} "
              "--strip-components=1 && printf '127.0.0.1 localhost\\n"
              f"127.0.0.1 {HOSTNAME}\\n' > /etc/hosts", check=True)
        t.run("sh", "-c", "umask 077 && cat > /root/site.yaml",
              input=answers, check=True)
    except BaseException:
        t.destroy()
        raise
    return t


def install(t, *extra, timeout=900):
    """Runs chatstack install with JSON events; returns (rc, events, r)."""
    r = t.run(f"{REL}/bin/chatstack", "--events", "json", "install",
              "--answers", "/root/site.yaml", "--yes", *extra,
              timeout=timeout)
    events = []
    for line in r.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return r.returncode, events, r


def summary(events):
    """The engine's summary data (counts), or {}."""
    for e in events:
        if e.get("type") == "summary" and "changed" in e.get("data", {}):
            return e["data"]
    return {}


def unit_starts(t):
    """ActiveEnterTimestampMonotonic of every unit of the stack."""
    out = {}
    for u in UNITS:
        r = t.run("systemctl", "show", "-P", "ActiveEnterTimestampMonotonic",
                  u)
        out[u] = r.stdout.strip()
    return out


def mtimes(t):
    r = t.run("stat", "-c", "%n %Y.%y", *CONFIGS)
    return r.stdout


def secrets(t):
    vals = []
    for s in SECRETS:
        r = t.run("cat", f"/etc/chatstack/secrets/{s}")
        if r.returncode == 0 and r.stdout.strip():
            vals.append(r.stdout.strip())
    return vals
