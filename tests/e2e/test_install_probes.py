"""The health probes in a real target, through the release's own
libraries: after an offline install `chatstack status --json` says every
backend answers, and when chatd's password for a backend is wrong it
names what that backend answered. One target serves the module."""

import json

import pytest

from test_install_common import REL, install, new_target

SECRETS = "/etc/chatstack/secrets"


@pytest.fixture(scope="module")
def stack():
    t = new_target()
    rc, events, r = install(t)
    t.first = (rc, events, r)
    yield t
    t.destroy()


def status(t):
    r = t.run(f"{REL}/bin/chatstack", "status", "--json")
    doc = json.loads(r.stdout)
    return r.returncode, {c["unit"]: c for c in doc["components"]}


def test_probes_use_the_release_libraries(stack):
    r = stack.run("ldd", f"{REL}/bin/chatstack")
    for lib in ("libhiredis", "librabbitmq", "libmariadb", "libcurl"):
        lines = [ln for ln in r.stdout.splitlines() if lib in ln]
        assert lines, r.stdout
        assert f"{REL}/bin/../lib/" in lines[0], lines[0]


def test_install_passes_every_health_gate(stack):
    rc, events, r = stack.first
    assert rc == 0, r.stdout[-3000:] + r.stderr[-3000:]
    finished = {e["step"] for e in events if e.get("type") == "step.finished"}
    for gate in ("health.mariadb-root", "health.mariadb", "health.redis",
                 "health.rabbitmq", "health.chatd@1", "health.chatd@2"):
        assert gate in finished, sorted(finished)


def test_status_says_every_backend_answers(stack):
    rc, rows = status(stack)
    assert rc == 0, rows
    for unit in ("mariadb.service", "redis-server.service",
                 "rabbitmq-server.service", "chatd@1.service",
                 "chatd@2.service"):
        assert rows[unit]["health"] == "answers", rows[unit]


@pytest.mark.parametrize("secret,unit,answer", [
    ("redis-chatd", "redis-server.service", "WRONGPASS"),
    ("rabbitmq-chatd", "rabbitmq-server.service", "ACCESS_REFUSED"),
    ("mariadb-chatd", "mariadb.service", "Access denied"),
])
def test_status_names_what_a_backend_answered_to_a_wrong_password(
        stack, secret, unit, answer):
    path = f"{SECRETS}/{secret}"
    stack.run("cp", "-p", path, f"/root/{secret}.keep", check=True)
    try:
        # The file keeps its owner and mode; only its contents change.
        stack.run("sh", "-c", f"printf 'wrong-password' > {path}",
                  check=True)
        rc, rows = status(stack)
        assert rc != 0, rows
        assert rows[unit]["health"] == "not answering", rows[unit]
        print(f"{unit}: {rows[unit].get('problem')}")
        assert answer in rows[unit].get("problem", ""), rows[unit]
    finally:
        stack.run("cp", "-p", f"/root/{secret}.keep", path, check=True)
    rc, rows = status(stack)
    assert rows[unit]["health"] == "answers", rows[unit]
