"""A full offline install into a fresh Debian 12 target from the release
artifact, then what a user checks: every service up and locked down, the
end-to-end check passed, a second run changes and restarts nothing, no
secret leaked anywhere, chatd sandboxed, and uninstall --purge leaves
nothing behind. One target serves the whole module (an install takes a
minute), in the order written."""

import re

import pytest

from test_install_common import (CONFIGS, HOSTNAME, REL, SECRETS, UNITS,
                                 install, mtimes, new_target, secrets,
                                 summary, unit_starts)


@pytest.fixture(scope="module")
def stack():
    t = new_target()
    # Watch argv and environment of every process during the install.
    t.run("sh", "-c", "nohup sh -c 'while :; do for p in /proc/[0-9]*; do "
          "tr \"\\0\" \" \" < $p/cmdline; echo; tr \"\\0\" \" \" "
          "< $p/environ; echo; done 2>/dev/null; sleep 0.1; done' "
          "> /root/procs.txt 2>&1 &")
    rc, events, r = install(t)
    t.run("sh", "-c", "pkill -f 'while :; do for p' || true")
    t.first = (rc, events, r)
    yield t
    t.destroy()


def test_install_offline_brings_every_service_up(stack):
    rc, events, r = stack.first
    assert rc == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for u in UNITS:
        assert stack.run("systemctl", "is-active", u).stdout.strip() == \
            "active", u
    finished = [e for e in events if e.get("type") == "step.finished"]
    assert any(e["step"] == "verify.e2e" for e in finished)
    # chatd and the web client under /opt/chatstack/<version>, current ->
    r = stack.run("sh", "-c", "readlink /opt/chatstack/current && "
                  "test -x /opt/chatstack/current/bin/chatd && "
                  "test -f /opt/chatstack/current/web/index.html")
    assert r.returncode == 0, r.stdout + r.stderr


def test_install_publishes_the_local_ca_with_its_fingerprint(stack):
    _, events, _ = stack.first
    tls = [e["data"]["tls"] for e in events if e.get("type") == "summary"
           and "tls" in e.get("data", {})]
    assert tls, events[-2:]
    tls = tls[0]
    assert tls["ca_url"] == f"http://{HOSTNAME}/chatstack-ca.crt"
    # Over plain HTTP, as a phone fetches it before trusting the site.
    r = stack.run("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80; printf "
                  "'GET /chatstack-ca.crt HTTP/1.0\\r\\nHost: %s\\r\\n"
                  "\\r\\n' >&3; cat <&3" % HOSTNAME)
    head, _, body = r.stdout.partition("\n\n")
    assert " 200 " in head.splitlines()[0], r.stdout
    assert "application/x-x509-ca-cert" in head
    assert body == stack.run("cat", "/etc/chatstack/tls/ca.crt").stdout
    r = stack.run("openssl", "x509", "-in", "/etc/chatstack/tls/ca.crt",
                  "-noout", "-fingerprint", "-sha256")
    assert r.stdout.strip().split("=", 1)[1] == tls["ca_fingerprint"]
    assert stack.run("systemctl", "is-active", "chatstack-renew.timer") \
        .stdout.strip() == "active"


def test_install_only_nginx_faces_the_network(stack):
    r = stack.run("ss", "-Hltnp")
    wild = []
    for line in r.stdout.splitlines():
        local = line.split()[3]
        addr, port = local.rsplit(":", 1)
        if addr in ("0.0.0.0", "[::]", "*"):
            if "nginx" in line:
                assert port in ("80", "443"), line
            else:
                wild.append(line)
        else:
            assert addr in ("127.0.0.1", "[::1]"), line
    assert not wild, wild


def test_install_backends_are_locked_down(stack):
    r = stack.run("sh", "-c", "echo \"SELECT COUNT(*) FROM mysql.global_priv"
                  " WHERE User=''\" | mariadb -N -B")
    assert r.stdout.strip() == "0"
    r = stack.run("sh", "-c", "echo 'SHOW DATABASES' | mariadb -N -B")
    assert "test" not in r.stdout.split()
    r = stack.run("rabbitmqctl", "-q", "list_users")
    assert "guest" not in r.stdout.split()
    r = stack.run("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6379; "
                  "printf 'PING\\r\\n' >&3; head -c 7 <&3")
    assert r.stdout.startswith("-NOAUTH"), r.stdout
    # The default user is off: even the right password does not open it,
    # while chatd's own ACL user gets in (printf is a builtin: no argv).
    auth = ("exec 3<>/dev/tcp/127.0.0.1/6379; printf 'AUTH %s %s\\r\\n' "
            "{user} \"$(cat /etc/chatstack/secrets/redis-chatd)\" >&3; "
            "head -c 5 <&3")
    r = stack.run("bash", "-c", auth.format(user="default"))
    assert r.stdout.startswith("-"), r.stdout
    r = stack.run("bash", "-c", auth.format(user="chatd"))
    assert r.stdout.startswith("+OK"), r.stdout
    r = stack.run("stat", "-c", "%a", "/var/lib/rabbitmq/.erlang.cookie")
    assert r.stdout.strip() == "400"
    for s in SECRETS:
        r = stack.run("stat", "-c", "%a %U", f"/etc/chatstack/secrets/{s}")
        assert r.stdout.strip() == "600 root", s


def test_install_second_run_changes_and_restarts_nothing(stack):
    before_units, before_files = unit_starts(stack), mtimes(stack)
    rc, events, r = install(stack)
    assert rc == 0, r.stdout[-3000:]
    assert summary(events).get("changed") == 0
    assert "0 changed" in " ".join(e.get("message", "") for e in events)
    assert unit_starts(stack) == before_units
    assert mtimes(stack) == before_files


def test_install_secrets_never_leak(stack):
    values = secrets(stack)
    assert len(values) == len(SECRETS)
    places = {
        "install log": "cat /var/log/chatstack/install.log",
        "journal": "cat /var/lib/chatstack/journal.json",
        "system journal": "journalctl -b --no-pager",
        "argv and environment": "cat /root/procs.txt",
    }
    _, events, r = stack.first
    seen = {"events": r.stdout + r.stderr}
    for name, cmd in places.items():
        seen[name] = stack.run("sh", "-c", cmd).stdout
    for name, text in seen.items():
        for v in values:
            assert v not in text, f"a secret appears in the {name}"


def test_install_failure_names_step_and_leaks_nothing(stack):
    # Break nginx's template: the install must fail at nginx's start,
    # say so, and still print no secret.
    stack.run("sh", "-c", f"cp -a {REL}/templates /root/tpl.bak && "
              f"echo 'this is not nginx syntax;' >> "
              f"{REL}/templates/nginx/chatstack.conf", check=True)
    try:
        rc, events, r = install(stack)
    finally:
        stack.run("sh", "-c", f"rm -rf {REL}/templates && "
                  f"mv /root/tpl.bak {REL}/templates", check=True)
    assert rc == 1
    failed = [e for e in events if e.get("type") == "step.failed"]
    assert failed and failed[0]["step"] == "service.nginx.service"
    text = r.stdout + r.stderr
    assert "resumes" in " ".join(e.get("message", "") for e in events)
    for v in secrets(stack):
        assert v not in text
    rc, events, r = install(stack)
    assert rc == 0, r.stdout[-3000:]


def test_install_chatd_sandbox_exposure_at_most_2_5(stack):
    r = stack.run("systemd-analyze", "security", "--no-pager",
                  "chatd@1.service")
    m = re.search(r"Overall exposure level for chatd@1.service: "
                  r"([0-9.]+)", r.stdout)
    assert m, r.stdout[-2000:]
    assert float(m.group(1)) <= 2.5


def test_install_status_and_verify_report_health(stack):
    r = stack.run(f"{REL}/bin/chatstack", "status")
    assert r.returncode == 0, r.stdout
    r = stack.run(f"{REL}/bin/chatstack", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "could not delete" not in r.stdout + r.stderr
    # The check's temporary users deleted themselves through chatd's API.
    r = stack.run("sh", "-c", "echo \"SELECT COUNT(*) FROM chat.users WHERE "
                  "username LIKE 'zz-check-%'\" | mariadb -N -B")
    assert r.stdout.strip() == "0", r.stdout + r.stderr


def test_install_uninstall_purge_leaves_nothing(stack):
    r = stack.run(f"{REL}/bin/chatstack", "uninstall", "--purge", "--yes",
                  timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = stack.run("sh", "-c", "systemctl list-unit-files 'chatd*' "
                  "--no-legend; systemctl list-units --all --no-legend "
                  "'chatd@*'")
    assert "chatd" not in r.stdout
    for path in CONFIGS + ["/etc/chatstack", "/opt/chatstack"]:
        assert stack.run("test", "-e", path).returncode != 0, path
    r = stack.run("getent", "passwd")
    assert "chat" not in r.stdout
