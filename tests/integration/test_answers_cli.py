"""chatstack answers validate|example, run as an operator would."""
import os
import subprocess


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def private(path, text):
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def test_example_validates(chatstack, tmp_path):
    r = run(chatstack, "answers", "example")
    assert r.returncode == 0
    assert r.stdout.startswith("# chatstack answer file, version 1")
    assert "version: 1" in r.stdout
    f = private(tmp_path / "site.yaml", r.stdout)
    v = run(chatstack, "answers", "validate", f)
    assert v.returncode == 0, v.stdout
    assert v.stdout == ""
    assert v.stderr == ""


def test_example_comments_every_section(chatstack):
    r = run(chatstack, "answers", "example")
    for key in ("profile:", "hostname:", "bind_address:", "tls:",
                "mode:", "letsencrypt:", "provided:", "components:",
                "mariadb:", "redis:", "rabbitmq:", "chatd:", "nginx:",
                "preflight:", "waive:"):
        assert key in r.stdout, key
    assert r.stdout.count("#") > 20


def test_example_to_file_is_private_and_never_overwritten(chatstack,
                                                           tmp_path):
    out = tmp_path / "site.yaml"
    r = run(chatstack, "answers", "example", "-o", str(out))
    assert r.returncode == 0
    assert (out.stat().st_mode & 0o777) == 0o600
    assert run(chatstack, "answers", "validate", str(out)).returncode == 0
    r = run(chatstack, "answers", "example", "-o", str(out))
    assert r.returncode == 1
    assert "cannot create" in r.stderr and "File exists" in r.stderr


def test_three_mistakes_give_three_lines(chatstack, tmp_path):
    f = private(tmp_path / "site.yaml",
                "version: 1\n"
                "hostname: \"chat.example.com;\"\n"
                "components:\n"
                "  redis: {port: 70000}\n"
                "  nginx:\n"
                "    htp_port: 80\n")
    r = run(chatstack, "answers", "validate", f)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 3, r.stdout
    assert lines[0].startswith(f"{f}:2:11: hostname: found "
                               "'chat.example.com;', expected a host name")
    assert lines[1].startswith(f"{f}:4:17: components.redis.port: "
                               "found 70000, expected a port number")
    assert lines[2].startswith(f"{f}:6:5: components.nginx.htp_port: "
                               "found unknown key 'htp_port'")


def test_newline_in_hostname_is_refused(chatstack, tmp_path):
    f = private(tmp_path / "site.yaml",
                "version: 1\nhostname: \"chat.example.com\\n"
                "  return 200 pwned;\"\n")
    r = run(chatstack, "answers", "validate", f)
    assert r.returncode == 1
    assert "hostname: found 'chat.example.com\\n  return 200 pwned;'" \
        in r.stdout
    assert len(r.stdout.splitlines()) == 1


def test_readable_answer_file_is_refused_with_reason(chatstack, tmp_path):
    f = tmp_path / "site.yaml"
    f.write_text("version: 1\n")
    os.chmod(f, 0o644)
    r = run(chatstack, "answers", "validate", str(f))
    assert r.returncode == 1
    assert r.stdout == (f"{f}: found mode 0644, which lets other users "
                        "read or change the answers and the secret files "
                        "they name, expected a file only its owner can "
                        f"read (run 'chmod 600 {f}')\n")


def test_readable_secret_file_is_refused_with_reason(chatstack, tmp_path):
    key = tmp_path / "eab.key"
    key.write_text("c2VjcmV0\n")
    os.chmod(key, 0o604)
    f = private(tmp_path / "site.yaml",
                "version: 1\nhostname: chat.example.com\ntls:\n"
                "  mode: letsencrypt\n  letsencrypt:\n"
                "    email: ops@example.com\n    eab_kid: kid-1\n"
                f"    eab_hmac_key_file: {key}\n")
    r = run(chatstack, "answers", "validate", f)
    assert r.returncode == 1
    assert f"found '{key}' with mode 0604, which lets other users read " \
        "a secret" in r.stdout
    assert "c2VjcmV0" not in r.stdout + r.stderr
    os.chmod(key, 0o600)
    assert run(chatstack, "answers", "validate", f).returncode == 0


def test_missing_file_fails(chatstack, tmp_path):
    r = run(chatstack, "answers", "validate", str(tmp_path / "none.yaml"))
    assert r.returncode == 1
    assert "cannot read the answer file: No such file or directory" \
        in r.stdout


def test_usage_errors_exit_2(chatstack):
    assert run(chatstack, "answers").returncode == 2
    assert run(chatstack, "answers", "validate").returncode == 2
    assert run(chatstack, "answers", "validate", "a", "b").returncode == 2
    assert run(chatstack, "answers", "example", "extra").returncode == 2
    r = run(chatstack, "answers", "frob")
    assert r.returncode == 2
    assert "unknown command 'frob'" in r.stderr


def test_help_lists_subcommands(chatstack):
    r = run(chatstack, "answers", "--help")
    assert r.returncode == 0
    assert "validate" in r.stdout and "example" in r.stdout
    r = run(chatstack, "answers", "validate", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: chatstack answers validate FILE")


def doc_examples():
    """The indented YAML examples of docs/answers.md's Examples section."""
    import pathlib
    text = (pathlib.Path(__file__).parents[2] / "docs" /
            "answers.md").read_text()
    section = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    blocks, cur = [], []
    for line in section.splitlines() + [""]:
        if line.startswith("    "):
            cur.append(line[4:])
        elif line.strip() == "" and cur and not cur[-1] == "":
            cur.append("")
        elif cur:
            blocks.append("\n".join(cur).strip() + "\n")
            cur = []
    return [b for b in blocks if b.startswith("version: 1")]


def test_doc_examples_validate(chatstack, tmp_path):
    examples = doc_examples()
    assert len(examples) >= 5
    for i, text in enumerate(examples):
        # Files an example names are made, with the mode it asks for.
        for word in text.split():
            if word.startswith("/etc/"):
                p = tmp_path / "root" / word[1:]
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("x\n")
                os.chmod(p, 0o600)
                text = text.replace(word, str(p))
        f = private(tmp_path / f"example{i}.yaml", text)
        r = run(chatstack, "answers", "validate", f)
        assert r.returncode == 0, (text, r.stdout)
