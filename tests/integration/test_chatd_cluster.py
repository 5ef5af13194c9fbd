"""Several chatd instances: delivery between them through Redis and
RabbitMQ, an instance killed mid-stream, restarts and clean shutdown."""

import signal
import subprocess

import pytest

import chatd_env
from chatd_env import Chatd, WSClosed, befriend, of_type, register


@pytest.fixture
def pair_of_instances():
    return chatd_env.instance_pair()


def test_chatd_cluster_users_on_different_instances_chat(pair_of_instances):
    two, three = pair_of_instances
    a, ta = register(two)
    b, tb = register(three)
    wb = three.ws(tb)
    # Friend events cross instances too.
    status, body = two.api("POST", "/friends/requests", {"user_id": b["id"]},
                           ta)
    assert status == 201
    ev = wb.recv_until(of_type("event"))[-1]
    assert ev["kind"] == "friend_request"
    status, body = three.api(
        "POST", f"/friends/requests/{ev['request']['id']}/accept", None, tb)
    conv = body["conversation_id"]
    wa = two.ws(ta)
    status, body = two.api("GET", "/friends", token=ta)
    assert body["friends"][0]["online"] is True
    for i in range(30):
        wa.send_json({"type": "send", "conversation_id": conv,
                      "client_msg_id": f"x{i}", "body": f"across {i}"})
    got = []
    while len(got) < 30:
        f = wb.recv_json()
        if f["type"] == "message":
            got.append(f["message"]["seq"])
    assert got == list(range(1, 31))
    _, text = three.request("GET", "/metrics")
    assert "chatd_remote_in_total 0" not in text
    wa.close()
    wb.close()


def send_stream(ws, conv, ids, stop_after=None):
    """Sends every id, collecting acks until the socket dies."""
    acked = {}
    try:
        for cid in ids:
            ws.send_json({"type": "send", "conversation_id": conv,
                          "client_msg_id": cid, "body": "body " + cid})
        while len(acked) < len(ids):
            f = ws.recv_json(timeout=15)
            if f["type"] == "ack":
                acked[f["client_msg_id"]] = f["seq"]
                if stop_after and len(acked) == stop_after:
                    stop_after = None
                    yield acked
    except (WSClosed, OSError):
        pass
    yield acked


def test_chatd_cluster_kill_9_mid_stream_loses_no_committed_message(
        pair_of_instances):
    two, three = pair_of_instances
    a, ta = register(two)
    b, tb = register(two)
    conv = befriend(two, ta, b, tb)
    ids = [f"k{i}" for i in range(300)]

    # The sender is on the instance that dies; the reader on the other.
    reader = two.ws(tb)
    sender = three.ws(ta)
    stream = send_stream(sender, conv, ids, stop_after=40)
    next(stream)
    three.proc.send_signal(signal.SIGKILL)
    three.proc.wait()
    acked = next(stream)
    assert len(acked) >= 40

    # The sender reconnects elsewhere and sends again what had no ack.
    sender = two.ws(ta)
    again = [cid for cid in ids if cid not in acked]
    for cid in again:
        sender.send_json({"type": "send", "conversation_id": conv,
                          "client_msg_id": cid, "body": "body " + cid})
    dups = 0
    while len(acked) < len(ids):
        f = sender.recv_json(timeout=15)
        if f["type"] == "ack":
            if f["client_msg_id"] in acked:
                assert acked[f["client_msg_id"]] == f["seq"]
            acked[f["client_msg_id"]] = f["seq"]
            dups += f["duplicate"]

    # Every message exactly once, seqs gapless, acks matching storage.
    reader.send_json({"type": "sync", "conversations": {str(conv): 0},
                      "limit": 500})
    frames = reader.recv_until(
        lambda f: f.get("type") == "synced", timeout=30)
    stored = {f["message"]["client_msg_id"]: f["message"]["seq"]
              for f in frames if f["type"] == "message"
              and f["message"]["conversation_id"] == conv}
    assert stored == acked
    assert sorted(stored.values()) == list(range(1, len(ids) + 1))
    sender.close()
    reader.close()

    # The killed instance comes back under the same id and serves again.
    three.start()
    w = three.ws(tb)
    w.send_json({"type": "sync", "conversations": {str(conv): 299}})
    frames = w.recv_until(of_type("synced"))
    assert [f["message"]["seq"] for f in frames
            if f["type"] == "message"] == [300]
    w.close()


def test_chatd_cluster_offline_user_catches_up_on_another_instance(
        pair_of_instances):
    two, three = pair_of_instances
    a, ta = register(two)
    b, tb = register(three)
    conv = befriend(two, ta, b, tb)
    wb = three.ws(tb)
    wa = two.ws(ta)
    wa.send_json({"type": "send", "conversation_id": conv,
                  "client_msg_id": "before", "body": "online"})
    wa.recv_until(of_type("ack"))
    assert wb.recv_until(of_type("message"))[-1]["message"]["seq"] == 1
    wb.close()
    for i in range(5):
        wa.send_json({"type": "send", "conversation_id": conv,
                      "client_msg_id": f"while-away-{i}", "body": "later"})
    n = 0
    while n < 5:
        n += wa.recv_json()["type"] == "ack"
    wb = two.ws(tb)
    wb.send_json({"type": "sync", "conversations": {str(conv): 1}})
    frames = wb.recv_until(of_type("synced"))
    assert [f["message"]["seq"] for f in frames
            if f["type"] == "message"] == [2, 3, 4, 5, 6]
    wa.close()
    wb.close()


def test_chatd_cluster_logout_closes_sockets_on_other_instances(
        pair_of_instances):
    two, three = pair_of_instances
    user, token = register(two)
    status, body = two.api("POST", "/login", {
        "username": user["username"], "password": "correct horse"})
    other_token = body["token"]
    w = three.ws(token)
    keep = three.ws(other_token)
    assert two.api("POST", "/logout", token=token)[0] == 200
    assert w.expect_close() == 4001
    # The same user's other session stays.
    keep.send_json({"type": "ping"})
    assert keep.recv_json()["type"] == "pong"
    keep.close()


def test_chatd_cluster_sigterm_closes_sockets_and_exits_cleanly():
    svc = chatd_env.services()
    four = Chatd(svc, 4, chatd_env.port(20084)).start()
    try:
        _, token = register(four)
        w = four.ws(token)
        four.proc.send_signal(signal.SIGTERM)
        assert w.expect_close() == 1001
        assert four.proc.wait(timeout=20) == 0
        assert "instance 4 stopped" in four.log()
    finally:
        four.kill()


def test_chatd_cluster_migrations_are_recorded_once():
    svc = chatd_env.services()
    chatd_env.shared_chatd()
    five = Chatd(svc, 5, chatd_env.port(20085)).start()
    five.stop()
    out = svc.sql("SELECT version FROM schema_migrations")
    assert out.split() == ["1"]
    assert "applied schema migration" not in five.log()


def test_chatd_cluster_config_errors_name_the_line(tmp_path):
    if not chatd_env.CHATD.exists():
        pytest.skip("chatd is not built")
    conf = tmp_path / "bad.conf"
    conf.write_text(f"listen_port = {chatd_env.port(20090)}\nno_such_key = 1\n")
    r = subprocess.run([str(chatd_env.CHATD), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "bad.conf:2: unknown key 'no_such_key'" in r.stderr
    conf.write_text("listen_port = 99999\n")
    r = subprocess.run([str(chatd_env.CHATD), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert "bad.conf:1: 'listen_port' must be an integer" in r.stderr
    conf.write_text(f"# fine\nlisten_port = {chatd_env.port(20090)}\n")
    r = subprocess.run([str(chatd_env.CHATD), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
