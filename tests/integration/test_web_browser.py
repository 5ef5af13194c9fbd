"""The web client in headless Chromium: two users register, become
friends and chat in real time through nginx in front of chatd, with
MariaDB, Redis and RabbitMQ started on loopback (ports 25100-25130).
The browser side is tests/browser/chat.test.mjs (playwright-core)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BROWSER = TOP / "tests" / "browser"
sys.path.insert(0, str(BROWSER))

import webstack as stack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
BASE_PORT = 25100


def need_tools():
    for path, why in ((CHROMIUM, "chromium (Debian package) is not installed"),
                      (shutil.which("node"), "node is not installed"),
                      (shutil.which("npm"), "npm is not installed")):
        if not path or not os.access(path, os.X_OK):
            pytest.skip(why)


def npm_ready():
    """Installs playwright-core from package-lock.json if it is missing."""
    if (BROWSER / "node_modules" / "playwright-core").is_dir():
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"npm ci failed (registry unreachable?): {r.stderr[-300:]}")


@pytest.fixture(scope="module")
def chat_stack():
    need_tools()
    missing = stack.missing_binaries(with_chatd=True)
    if missing:
        pytest.skip(f"cannot start the chat stack, missing: {', '.join(missing)}")
    npm_ready()
    # chat-bench registers a few users too: more than chatd's default
    # 10 registrations a minute from one address (nginx's X-Real-IP).
    s = stack.Stack(BASE_PORT, chatd_overrides={"register_rate": 100})
    try:
        s.start()
    except stack.StackError as e:
        s.stop()
        pytest.skip(f"the chat stack did not start: {e}")
    yield s
    s.stop()


def test_web_two_users_chat_in_real_time(chat_stack, tmp_path):
    control = tmp_path / "control"
    control.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(tmp_path), "CHAT_URL": chat_stack.url,
           "ARTIFACTS": str(tmp_path), "CHAT_CONTROL": str(control)}
    proc = subprocess.Popen(["node", "chat.test.mjs"], cwd=BROWSER, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out = []
    try:
        # The script asks for chatd to stop and start; the file it
        # waits for says it is done.
        for line in proc.stdout:
            out.append(line)
            if line.startswith("control: stop-chatd"):
                chat_stack.stop_chatd(0)
                (control / "stop-chatd").touch()
            elif line.startswith("control: start-chatd"):
                chat_stack.restart_chatd(0)
                (control / "start-chatd").touch()
        err = proc.stderr.read()
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout = "".join(out)
    print(stdout)
    print(err)
    if rc != 0:
        for name in ("chatd1", "nginx"):
            print(f"--- {name} log ---\n{chat_stack.log(name)}")
    assert rc == 0, err[-2000:]
    assert "all steps passed" in stdout


@pytest.mark.parametrize("mode,args", [
    ("direct", ["--users", "4", "--rate", "20"]),
    ("group", ["--users", "6", "--group-size", "3", "--rate", "20"]),
])
def test_web_bench_delivers_every_message_through_nginx(chat_stack, mode, args):
    bench = stack.BUILD / "chat-bench"
    if not os.access(bench, os.X_OK):
        pytest.fail(f"{bench} is not built; run make first")
    r = subprocess.run([str(bench), "--url", chat_stack.url, "--mode", mode,
                        *args, "--duration", "2", "--drain", "10", "--json"],
                       capture_output=True, text=True, timeout=120)
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0, r.stderr
    assert report["ok"] and report["lost"] == 0 and report["unacked"] == 0
    assert report["acks"] > 0
    assert report["deliveries"] == report["expected_deliveries"]
