"""Fixtures for end-to-end tests on real Debian 12 targets.

A target is a fresh copy of a cached debootstrap root booted with
systemd-nspawn (scripts/target). Every test gets its own, destroyed after.

    def test_something(target):
        target.copy("build/chatstack", "/usr/local/bin/chatstack")
        r = target.run("chatstack", "version")
        assert r.returncode == 0

    def test_offline(target_factory):
        t = target_factory(offline=True)   # no apt source, private network

Targets share the host's network namespace (unless offline): a service a
test starts inside listens on the host's loopback, so use your port range. Installs take the default ports (80, 443, 3306, ...),
so one e2e session runs at a time on a machine: the session holds
/run/lock/chatstack-e2e.lock and a second one waits for it.
"""

import fcntl
import os
import pathlib
import shutil
import subprocess
import uuid

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BUILD", TOP / "build"))
TARGET = TOP / "scripts" / "target"


def target_unavailable():
    """Returns why targets cannot run here, or None."""
    if os.geteuid() != 0:
        return "test targets need root (debootstrap, systemd-nspawn)"
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "pgrep"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (scripts/deps.txt)"
    if not TARGET.exists():
        return f"{TARGET} is missing"
    return None


_pruned = False


@pytest.fixture(scope="session", autouse=True)
def e2e_lock():
    """Serialises e2e sessions: targets share the host's ports."""
    os.makedirs("/run/lock", exist_ok=True)
    with open("/run/lock/chatstack-e2e.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


class Target:
    """One Debian 12 system under systemd-nspawn."""

    def __init__(self, name):
        self.name = name
        self.booted = False

    def _target(self, *args, check=True, timeout=600, **kw):
        r = subprocess.run([str(TARGET), *args], capture_output=True,
                           text=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(
                f"scripts/target {' '.join(args)} failed "
                f"({r.returncode}): {r.stderr.strip()}")
        return r

    @property
    def root(self):
        """The target's root folder on the host."""
        return pathlib.Path(self._target("root", self.name).stdout.strip())

    def create(self):
        self._target("create", self.name, timeout=900)

    def boot(self, offline=False):
        args = ["boot", self.name] + (["--offline"] if offline else [])
        self._target(*args)
        self.booted = True

    def offline(self):
        """Removes every apt source and proxy (see scripts/target)."""
        self._target("offline", self.name)

    def run(self, *cmd, input=None, timeout=600, check=False):
        """Runs cmd inside; returns a CompletedProcess (text)."""
        r = self._target("exec", self.name, *cmd, check=False,
                         input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {r.returncode} in target "
                f"{self.name}:\n{r.stdout}\n{r.stderr}")
        return r

    def copy(self, src, dest):
        self._target("copy", self.name, str(src), str(dest))

    def stop(self):
        self._target("stop", self.name)
        self.booted = False

    def destroy(self):
        self._target("destroy", self.name, check=False)


@pytest.fixture
def target_factory(request):
    """Makes fresh targets (booted unless boot=False); destroys them after."""
    why = target_unavailable()
    if why:
        pytest.skip(why)
    global _pruned
    if not _pruned:
        # Targets that a killed run left behind (hours old) go first.
        subprocess.run([str(TARGET), "prune", "180"], capture_output=True)
        _pruned = True
    made = []

    def make(boot=True, offline=False):
        t = Target(f"cs-{uuid.uuid4().hex[:10]}")
        made.append(t)
        t.create()
        if offline:
            t.offline()
        if boot:
            t.boot(offline=offline)
        return t

    yield make
    for t in made:
        t.destroy()


@pytest.fixture
def target(target_factory):
    """A fresh booted Debian 12 target, destroyed after the test."""
    return target_factory()


@pytest.fixture
def chatstack():
    """Path of the built chatstack binary."""
    path = BUILD / "chatstack"
    if not path.exists():
        pytest.fail(f"{path} is not built; run make first")
    return str(path)
