"""Kill -9 the installer at step boundaries, in turn, on one target; each
re-run resumes; the last one converges to the state a clean install
gives: every service active, the end-to-end check passed, and a further
run changes nothing."""

import json
import subprocess

from conftest import TARGET
from test_install_common import REL, UNITS, install, new_target, summary

# The step whose start kills the run, in plan order.
KILL_AT = ["packages.bundles", "secrets", "tls.certificate",
           "config.rabbitmq-definitions", "systemd.reload",
           "mariadb.secure", "service.rabbitmq-server.service",
           "service.chatd@2.service", "verify.e2e"]


def kill_at(t, step):
    """Runs install, kills it -9 when step starts; returns if it did."""
    p = subprocess.Popen(
        [str(TARGET), "exec", t.name, f"{REL}/bin/chatstack", "--events",
         "json", "install", "--answers", "/root/site.yaml", "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    killed = False
    for line in p.stdout:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("type") == "step.started" and e.get("step") == step:
            t.run("pkill", "-9", "-x", "chatstack")
            killed = True
            break
    p.stdout.close()
    p.wait(timeout=900)
    return killed


def test_install_killed_at_each_boundary_resumes_and_converges():
    t = new_target()
    try:
        for step in KILL_AT:
            kill_at(t, step)
        rc, events, r = install(t)
        assert rc == 0, r.stdout[-3000:]
        for u in UNITS:
            assert t.run("systemctl", "is-active", u).stdout.strip() == \
                "active", u
        rc, events, r = install(t)
        assert rc == 0
        assert summary(events).get("changed") == 0
    finally:
        t.destroy()
