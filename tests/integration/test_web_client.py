"""The web client's files: every module parses, the page references only
files that exist, and nginx (a real one, on 127.0.0.1:25050) serves them
with the types browsers require for module scripts."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
WEB = TOP / "chat" / "web"
sys.path.insert(0, str(TOP / "tests" / "browser"))

import webstack as stack  # noqa: E402

NGINX_BASE = 25030  # nginx listens on base + 20


def test_web_modules_parse():
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    for js in sorted(WEB.glob("js/*.js")):
        r = subprocess.run([node, "--input-type=module", "--check"],
                           stdin=open(js), capture_output=True, text=True)
        assert r.returncode == 0, f"{js.name}: {r.stderr}"


def test_web_page_references_existing_files():
    html = (WEB / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#:]+)"', html)
    assert "js/main.js" in refs and "css/app.css" in refs
    for ref in refs:
        assert (WEB / ref).is_file(), f"index.html names missing {ref}"
    for js in WEB.glob("js/*.js"):
        for imp in re.findall(r"from '(\./[^']+)'", js.read_text()):
            assert (js.parent / imp).is_file(), f"{js.name} imports missing {imp}"


def test_web_no_untrusted_html_sinks():
    # Server text reaches the page as textContent only.
    for js in WEB.glob("js/*.js"):
        text = js.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML",
                     "document.write", "eval("):
            assert sink not in text, f"{js.name} uses {sink}"


def test_web_nginx_serves_modules_with_javascript_type():
    if not os.access(stack.NGINX, os.X_OK):
        pytest.skip("nginx is not installed")
    s = stack.Stack(NGINX_BASE)
    s.chatd_ports = [NGINX_BASE + 10]
    try:
        s.start_nginx()
    except stack.StackError as e:
        s.stop()
        pytest.skip(f"nginx did not start: {e}")
    try:
        with urllib.request.urlopen(s.url + "/") as r:
            assert r.status == 200
            assert b'id="auth-form"' in r.read()
        with urllib.request.urlopen(s.url + "/js/main.js") as r:
            ctype = r.headers["Content-Type"]
            assert ctype.startswith(("text/javascript", "application/javascript")), ctype
        with urllib.request.urlopen(s.url + "/css/app.css") as r:
            assert r.headers["Content-Type"].startswith("text/css")
        # A deep link falls back to the page itself.
        with urllib.request.urlopen(s.url + "/some/where") as r:
            assert b'id="auth-form"' in r.read()
    finally:
        s.stop()
