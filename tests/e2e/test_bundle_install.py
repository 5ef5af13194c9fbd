"""Installing a component from its bundle on a fresh Debian 12 target
that cannot reach any package archive: apt uses the bundle only."""

import pathlib

from bundle_helpers import TOP, built_bundles, redis_bundle, release_tarball

OPT = "/opt/chatstack-test"
CHATSTACK = f"{OPT}/bin/chatstack"


def test_bundle_redis_installs_with_archive_unreachable(
        target_factory, tmp_path):
    bundles = redis_bundle()
    tarball = release_tarball(tmp_path, bundles=bundles)
    t = target_factory(offline=True)
    # Offline for real: no source, and no route off the private network.
    assert t.run("apt-get", "-q", "update").stdout.count("Get:") == 0
    r = t.run("apt-get", "-q", "-y", "install", "redis-server")
    assert r.returncode != 0
    t.copy(tarball, "/root/release.tar.gz")
    t.run("tar", "-C", "/opt", "-xzf", "/root/release.tar.gz", check=True)

    # The release's own key is trusted without any option.
    r = t.run(CHATSTACK, "bundle", "verify", f"{OPT}/bundles/redis.tar.zst")
    assert r.returncode == 0, r.stderr
    r = t.run(CHATSTACK, "bundle", "install",
              f"{OPT}/bundles/redis.tar.zst", timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    r = t.run("dpkg-query", "-W", "-f", "${Status}", "redis-server")
    assert r.stdout == "install ok installed"
    # policy-rc.d kept it from starting; it is gone again afterwards.
    assert t.run("systemctl", "is-active", "redis-server").stdout.strip() \
        != "active"
    assert t.run("test", "-e", "/usr/sbin/policy-rc.d").returncode != 0
    assert t.run("sh", "-c", "ls -A /var/lib/chatstack/staging").stdout \
        == ""
    r = t.run("cat", "/var/lib/chatstack/bundles/redis.version")
    assert r.stdout.strip().startswith("5:7.")

    # Installing the same bundle again changes nothing and succeeds.
    r = t.run(CHATSTACK, "bundle", "install",
              f"{OPT}/bundles/redis.tar.zst", timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr

    # An older recorded version than installed: refused, then allowed.
    t.run("sh", "-c", "echo 9:1.0 > /var/lib/chatstack/bundles/redis.version",
          check=True)
    r = t.run(CHATSTACK, "bundle", "install",
              f"{OPT}/bundles/redis.tar.zst")
    assert r.returncode == 1
    assert "--allow-downgrade" in r.stderr


def test_bundle_every_recipe_installs_offline_on_minimal_debian(
        target_factory, tmp_path):
    """Each recipe's closure is complete: installing every bundle, one
    after the other, on a target without any archive succeeds and starts
    no service."""
    names = sorted(p.name for p in (TOP / "bundles" / "recipes").iterdir())
    bundles = built_bundles(names)
    t = target_factory(offline=True)
    for name in names:
        t.copy(pathlib.Path(bundles) / f"{name}.tar.zst", f"/root/{name}.tar.zst")
    t.copy(release_tarball(tmp_path), "/root/release.tar.gz")
    t.run("tar", "-C", "/opt", "-xzf", "/root/release.tar.gz", check=True)
    for name in names:
        r = t.run(CHATSTACK, "bundle", "install", "--key",
                  f"{OPT}/share/trusted-keys/release.pub",
                  f"/root/{name}.tar.zst", timeout=1200)
        assert r.returncode == 0, f"{name}: {r.stdout}{r.stderr}"
    for unit in ("mariadb", "redis-server", "rabbitmq-server", "nginx"):
        r = t.run("systemctl", "is-active", unit)
        assert r.stdout.strip() != "active", unit
