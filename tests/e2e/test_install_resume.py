"""Kill -9 the installer at a few random moments (inside steps: apt, a
service start) and then at every step boundary in turn, on one target;
each re-run
resumes; the last one converges to the state a clean install gives: every
service active, the end-to-end check passed, and a further run changes
nothing."""

import json
import random
import subprocess
import time

from conftest import TARGET
from test_install_common import REL, UNITS, install, new_target, summary

def kill_at(t, n):
    """Runs install and kills it -9 when step n (1-based, in plan order)
    starts, that is at the boundary after step n-1; returns whether it did
    (False: the run had fewer steps and ended by itself)."""
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
        if e.get("type") == "step.started" and e.get("index") == n:
            t.run("pkill", "-9", "-x", "chatstack")
            killed = True
            break
    p.stdout.close()
    p.wait(timeout=900)
    return killed


RANDOM_KILLS = 5


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
        for _ in range(RANDOM_KILLS):
            kill_after(t, rnd.uniform(2, 40))
        # Then every boundary in turn: the run killed as step n starts
        # resumes and is killed as step n+1 starts, and so on.
        n = 2
        while kill_at(t, n):
            n += 1
        assert n > 20, f"only {n - 1} steps started"
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
