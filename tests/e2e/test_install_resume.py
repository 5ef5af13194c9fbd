"""Kill -9 the installer at step boundaries, in turn, on one target, and at
a few random moments (inside steps: apt, a service start); each re-run
resumes; the last one converges to the state a clean install gives: every
service active, the end-to-end check passed, and a further run changes
nothing."""

import json
import random
import subprocess
import time

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


def kill_after(t, seconds):
    """Runs install and kills it -9 after seconds (if still running)."""
    p = subprocess.Popen(
        [str(TARGET), "exec", t.name, f"{REL}/bin/chatstack", "install",
         "--answers", "/root/site.yaml", "--yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    t.run("pkill", "-9", "-x", "chatstack")
    p.wait(timeout=900)


def test_install_killed_at_each_boundary_resumes_and_converges():
    t = new_target()
    try:
        rnd = random.Random()
        seed = rnd.randrange(1 << 30)
        rnd.seed(seed)
        print(f"random kill seed {seed}")
        # Random moments first, while there is still work to interrupt.
        for _ in range(2):
            kill_after(t, rnd.uniform(2, 25))
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
