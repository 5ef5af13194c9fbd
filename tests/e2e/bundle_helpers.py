"""Shared by the bundle and release tests: the release tree and bundles."""

import os
import pathlib
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BUILD", TOP / "build"))
KEY = pathlib.Path(os.environ.get(
    "SIGNING_KEY",
    pathlib.Path.home() / ".cache" / "chatstack" / "dev-signing.key"))


def signing_key():
    """The development signing key, made on first use (never committed)."""
    if not KEY.exists():
        KEY.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BUILD / "chatstack"), "bundle", "keygen",
                        str(KEY)], check=True, capture_output=True)
    return KEY


def release_tarball(tmp_path, bundles=None):
    """Builds a release tarball like make dist; returns its path."""
    binary = BUILD / "release" / "chatstack"
    if not binary.exists():
        pytest.fail(f"{binary} is not built; run make first")
    key = signing_key()
    out = tmp_path / "dist"
    args = [str(TOP / "scripts" / "dist"), "--name", "chatstack-test",
            "--binary", str(binary), "--key", f"{key}.pub",
            "--sign", str(key), "--out", str(out)]
    if bundles:
        args += ["--bundles", str(bundles)]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out / "chatstack-test.tar.gz"


def built_bundles(names):
    """build/bundles/NAME.tar.zst for each name, built from the recipes
    where missing or not verifiable. Returns the folder.

    Building needs Debian's package archive; without it the test skips.
    """
    out = BUILD / "bundles"
    key = signing_key()
    missing = []
    for name in names:
        bundle = out / f"{name}.tar.zst"
        r = subprocess.run([str(BUILD / "chatstack"), "bundle", "verify",
                            "--no-default-keys", "--key", f"{key}.pub",
                            "--state-dir", "", str(bundle)],
                           capture_output=True)
        if r.returncode != 0:
            missing.append(str(TOP / "bundles" / "recipes" / name))
    if not missing:
        return out
    r = subprocess.run([str(TOP / "scripts" / "build-bundle"),
                        "--chatstack", str(BUILD / "chatstack"),
                        "--key", str(key), "--out", str(out), *missing],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        pytest.skip("cannot build the bundles (is Debian's archive "
                    f"reachable?): {r.stderr.strip()[-300:]}")
    return out


def redis_bundle():
    """build/bundles/ with redis.tar.zst in it."""
    return built_bundles(["redis"])
