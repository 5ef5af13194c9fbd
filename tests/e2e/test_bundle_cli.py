"""chatstack bundle on the command line: keys, verify, list, extract and
the messages an operator sees when a bundle was tampered with."""

import os
import stat
import subprocess

import pytest

from bundle_helpers import BUILD


def cs(*args):
    return subprocess.run([str(BUILD / "chatstack"), *args],
                          capture_output=True, text=True)


@pytest.fixture
def signed(tmp_path):
    key = tmp_path / "key"
    assert cs("bundle", "keygen", str(key)).returncode == 0
    src = tmp_path / "src"
    (src / "repo").mkdir(parents=True)
    (src / "repo" / "Packages").write_text("Package: demo\n")
    (src / "repo" / "demo.deb").write_bytes(os.urandom(100000))
    out = tmp_path / "demo.tar.zst"
    r = cs("bundle", "create", "--key", str(key), "--component", "demo",
           "--version", "1.0-1", "--package", "demo", str(src), str(out))
    assert r.returncode == 0, r.stderr
    return key, out


def test_bundle_keygen_private_key_is_0600(tmp_path):
    key = tmp_path / "k"
    r = cs("bundle", "keygen", str(key))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "BEGIN PUBLIC KEY" in (tmp_path / "k.pub").read_text()
    # Never overwritten.
    r = cs("bundle", "keygen", str(key))
    assert r.returncode == 1
    assert "cannot create" in r.stderr


def test_bundle_verify_list_extract(signed, tmp_path):
    key, bundle = signed
    trust = ["--no-default-keys", "--key", f"{key}.pub", "--state-dir", ""]
    r = cs("bundle", "verify", *trust, str(bundle))
    assert r.returncode == 0, r.stderr
    assert "demo 1.0-1 (debian12 amd64)" in r.stdout
    r = cs("bundle", "list", *trust, str(bundle))
    assert "repo/demo.deb" in r.stdout
    assert "package demo" in r.stdout
    dest = tmp_path / "out"
    r = cs("bundle", "extract", *trust, str(bundle), str(dest))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert (dest / "repo" / "Packages").read_text() == "Package: demo\n"


def test_bundle_untrusted_or_tampered_is_refused_naming_why(signed,
                                                            tmp_path):
    key, bundle = signed
    r = cs("bundle", "verify", "--no-default-keys", str(bundle))
    assert r.returncode == 1
    assert "no trusted keys" in r.stderr
    # Rewrite the payload: decompress, flip one byte of the .deb, pack.
    raw = tmp_path / "raw.tar"
    subprocess.run(["zstd", "-q", "-d", str(bundle), "-o", str(raw)],
                   check=True)
    data = bytearray(raw.read_bytes())
    i = data.index(b"repo/demo.deb")
    data[i + 4096] ^= 0xFF  # past the header block: inside the file
    raw.write_bytes(bytes(data))
    bad = tmp_path / "bad.tar.zst"
    subprocess.run(["zstd", "-q", str(raw), "-o", str(bad)], check=True)
    r = cs("bundle", "verify", "--no-default-keys", "--key", f"{key}.pub",
           "--state-dir", "", str(bad))
    assert r.returncode == 1
    assert "'repo/demo.deb'" in r.stderr
    assert "SHA-256 does not match" in r.stderr


def test_bundle_usage_errors_exit_2_and_name_the_command():
    r = cs("bundle", "verify")
    assert r.returncode == 2
    assert "chatstack bundle verify: no bundle given" in r.stderr
    r = cs("bundle", "verify", "--key")
    assert r.returncode == 2
    assert "option '--key' needs a value" in r.stderr
    r = cs("bundle", "extract", "--keep", "a", "b")
    assert r.returncode == 2
    assert "for 'install' only" in r.stderr
    r = cs("bundle", "frobnicate")
    assert r.returncode == 2


def test_bundle_extract_refuses_existing_folder(signed, tmp_path):
    key, bundle = signed
    r = cs("bundle", "extract", "--no-default-keys", "--key", f"{key}.pub",
           "--state-dir", "", str(bundle), str(tmp_path))
    assert r.returncode == 1
    assert "it must be new" in r.stderr
