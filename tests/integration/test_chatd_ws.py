"""chatd WebSocket protocol at /ws (docs/chat-api.md)."""

import json
import time

import pytest

import chatd_env
from chatd_env import WSClient, WSClosed, befriend, of_type, register


@pytest.fixture
def chatd():
    return chatd_env.shared_chatd()


def pair(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    conv = befriend(chatd, ta, b, tb)
    return a, ta, b, tb, conv


def test_chatd_ws_first_frame_must_be_auth(chatd):
    w = WSClient(chatd.port)
    w.send_json({"type": "ping"})
    reply = w.recv_json()
    assert reply["type"] == "error" and reply["code"] == "unauthorized"
    assert w.expect_close() == 4001


def test_chatd_ws_bad_token_is_refused(chatd):
    w = WSClient(chatd.port)
    w.send_json({"type": "auth", "token": "f" * 64, "ref": "a1"})
    reply = w.recv_json()
    assert reply == {"type": "error", "code": "unauthorized",
                     "message": reply["message"], "ref": "a1"}
    assert w.expect_close() == 4001


def test_chatd_ws_only_at_ws_path(chatd):
    with pytest.raises(ConnectionError):
        WSClient(chatd.port, path="/api/v1/me")


def test_chatd_ws_auth_ok_and_ping(chatd):
    user, token = register(chatd)
    w = WSClient(chatd.port)
    w.send_json({"type": "auth", "token": token, "ref": 7})
    reply = w.recv_json()
    assert reply["type"] == "auth_ok" and reply["ref"] == 7
    assert reply["user"]["id"] == user["id"]
    assert reply["instance"] == "1"
    w.send_json({"type": "ping", "ref": "p"})
    assert w.recv_json() == {"type": "pong", "ref": "p"}
    w.send_json({"type": "auth", "token": token})
    assert w.recv_json()["code"] == "bad_request"
    w.close()


def test_chatd_ws_send_ack_and_push(chatd):
    a, ta, b, tb, conv = pair(chatd)
    wa, wa2, wb = chatd.ws(ta), chatd.ws(ta), chatd.ws(tb)
    wa.send_json({"type": "send", "conversation_id": conv,
                  "client_msg_id": "c-1", "body": "hello b", "ref": 3})
    ack = wa.recv_until(of_type("ack"))[-1]
    assert ack["ref"] == 3 and ack["seq"] == 1 and ack["duplicate"] is False
    assert ack["client_msg_id"] == "c-1" and ack["conversation_id"] == conv
    push = wb.recv_until(of_type("message"))[-1]["message"]
    assert push["body"] == "hello b" and push["seq"] == 1
    assert push["sender_id"] == a["id"] and push["id"] == ack["message_id"]
    # The sender's other socket gets it too.
    assert wa2.recv_until(of_type("message"))[-1]["message"]["seq"] == 1
    for w in (wa, wa2, wb):
        w.close()


def test_chatd_ws_duplicate_client_id_acks_the_original(chatd):
    a, ta, b, tb, conv = pair(chatd)
    wa = chatd.ws(ta)
    frame = {"type": "send", "conversation_id": conv,
             "client_msg_id": "same-id", "body": "only once"}
    wa.send_json(frame)
    first = wa.recv_until(of_type("ack"))[-1]
    wa.send_json(frame)
    again = wa.recv_until(of_type("ack"))[-1]
    assert again["duplicate"] is True
    assert again["seq"] == first["seq"]
    assert again["message_id"] == first["message_id"]
    # The same id after a reconnect is still the same message.
    wa.close()
    wa = chatd.ws(ta)
    wa.send_json(frame)
    assert wa.recv_until(of_type("ack"))[-1]["message_id"] == \
        first["message_id"]
    status, body = chatd.api("GET", f"/conversations/{conv}/messages",
                             token=tb)
    assert len(body["messages"]) == 1
    wa.close()


def test_chatd_ws_concurrent_sends_get_gapless_sequences(chatd):
    a, ta, b, tb, conv = pair(chatd)
    socks = [chatd.ws(ta) for _ in range(3)] + [chatd.ws(tb)]
    n = 20
    for i in range(n):
        for j, w in enumerate(socks):
            w.send_json({"type": "send", "conversation_id": conv,
                         "client_msg_id": f"s{j}-{i}", "body": f"{j}/{i}"})
    seqs = []
    for w in socks:
        frames = []
        while len([f for f in frames if f["type"] == "ack"]) < n:
            frames.append(w.recv_json())
        seqs += [f["seq"] for f in frames if f["type"] == "ack"]
        w.close()
    assert sorted(seqs) == list(range(1, n * len(socks) + 1))


def test_chatd_ws_errors_keep_the_socket_open(chatd):
    a, ta, b, tb, conv = pair(chatd)
    w = chatd.ws(ta)
    cases = [
        ("not json", "bad_json"),
        ("[1,2]", "bad_json"),
        (json.dumps({"type": "fly"}), "bad_request"),
        (json.dumps({"type": 5}), "bad_request"),
        (json.dumps({"type": "send", "conversation_id": "1",
                     "client_msg_id": "x", "body": "b"}), "bad_request"),
        (json.dumps({"type": "send", "conversation_id": conv,
                     "client_msg_id": "x" * 65, "body": "b"}),
         "bad_request"),
        (json.dumps({"type": "send", "conversation_id": conv,
                     "client_msg_id": "big", "body": "x" * 4097}),
         "too_large"),
        (json.dumps({"type": "send", "conversation_id": 999999999,
                     "client_msg_id": "nope", "body": "b"}), "not_found"),
        (json.dumps({"type": "read", "conversation_id": 999999999,
                     "seq": 1}), "not_found"),
        (json.dumps({"type": "sync", "conversations": {"x": 1}}),
         "bad_request"),
        (json.dumps({"type": "ping", "ref": {"a": 1}}), "bad_request"),
    ]
    for text, code in cases:
        w.send_text(text)
        reply = w.recv_until(of_type("error"))[-1]
        assert reply["code"] == code, (text, reply)
    w.send_json({"type": "ping"})
    assert w.recv_until(of_type("pong"))
    w.close()


def test_chatd_ws_someone_elses_conversation_is_not_found(chatd):
    a, ta, b, tb, conv = pair(chatd)
    eve, te = register(chatd)
    we = chatd.ws(te)
    we.send_json({"type": "send", "conversation_id": conv,
                  "client_msg_id": "e-1", "body": "intrude"})
    reply = we.recv_until(of_type("error"))[-1]
    assert reply["code"] == "not_found"
    assert reply["client_msg_id"] == "e-1"
    we.send_json({"type": "sync", "conversations": {str(conv): 0}})
    synced = we.recv_until(of_type("synced"))
    assert synced[-1]["conversations"] == []
    assert not [f for f in synced if f["type"] == "message"]
    we.close()


def test_chatd_ws_offline_catch_up_by_sequence(chatd):
    a, ta, b, tb, conv = pair(chatd)
    wa = chatd.ws(ta)
    for i in range(5):
        wa.send_json({"type": "send", "conversation_id": conv,
                      "client_msg_id": f"off-{i}", "body": f"m{i}"})
    acks = [f for f in wa.recv_until(
        lambda f: f.get("type") == "ack" and f["client_msg_id"] == "off-4")
        if f["type"] == "ack"]
    assert len(acks) == 5
    wb = chatd.ws(tb)
    wb.send_json({"type": "sync", "conversations": {str(conv): 2},
                  "ref": "s"})
    frames = wb.recv_until(of_type("synced"))
    got = [f["message"]["seq"] for f in frames if f["type"] == "message"]
    assert got == [3, 4, 5]
    assert frames[-1]["ref"] == "s"
    assert frames[-1]["conversations"] == [
        {"conversation_id": conv, "last_seq": 5, "more": False}]
    # Unlisted conversations start at the read mark; limit pages.
    chatd.api("POST", f"/conversations/{conv}/read", {"seq": 1}, tb)
    wb.send_json({"type": "sync", "limit": 2})
    frames = wb.recv_until(of_type("synced"))
    assert [f["message"]["seq"] for f in frames
            if f["type"] == "message"] == [2, 3]
    assert frames[-1]["conversations"][0]["more"] is True
    wa.close()
    wb.close()


def test_chatd_ws_read_marks_reach_members(chatd):
    a, ta, b, tb, conv = pair(chatd)
    wa, wb = chatd.ws(ta), chatd.ws(tb)
    wa.send_json({"type": "send", "conversation_id": conv,
                  "client_msg_id": "r-1", "body": "read me"})
    wb.recv_until(of_type("message"))
    wb.send_json({"type": "read", "conversation_id": conv, "seq": 1,
                  "ref": 9})
    ok = wb.recv_until(of_type("read_ok"))[-1]
    assert ok == {"type": "read_ok", "conversation_id": conv,
                  "read_seq": 1, "ref": 9}
    seen = wa.recv_until(of_type("read"))[-1]
    assert seen == {"type": "read", "conversation_id": conv,
                    "user_id": b["id"], "seq": 1}
    wa.close()
    wb.close()


def test_chatd_ws_presence_and_friend_events(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    wa = chatd.ws(ta)
    status, body = chatd.api("POST", "/friends/requests",
                             {"user_id": a["id"]}, tb)
    ev = wa.recv_until(of_type("event"))[-1]
    assert ev["kind"] == "friend_request"
    assert ev["request"]["from"]["id"] == b["id"]
    rid = ev["request"]["id"]
    status, body = chatd.api("POST", f"/friends/requests/{rid}/accept",
                             None, ta)
    ev = wa.recv_until(of_type("event"))[-1]
    assert ev["kind"] == "friend_accepted"
    assert ev["friend"]["id"] == b["id"]

    wb = chatd.ws(tb)
    p = wa.recv_until(of_type("presence"))[-1]
    assert p == {"type": "presence", "user_id": b["id"], "online": True}
    status, body = chatd.api("GET", "/friends", token=ta)
    assert body["friends"][0]["online"] is True
    wb.close()
    p = wa.recv_until(of_type("presence"))[-1]
    assert p == {"type": "presence", "user_id": b["id"], "online": False}
    status, body = chatd.api("GET", "/friends", token=ta)
    assert body["friends"][0]["online"] is False

    status, body = chatd.api("POST", "/groups", {"name": "g",
                                                 "member_ids": [a["id"]]},
                             tb)
    ev = wa.recv_until(of_type("event"))[-1]
    assert ev["kind"] == "group_created"
    gid = ev["group"]["id"]
    chatd.api("DELETE", f"/groups/{gid}/members/{a['id']}", token=tb)
    ev = wa.recv_until(of_type("event"))[-1]
    assert ev["kind"] == "group_member_removed"
    assert ev["user_id"] == a["id"]
    wa.close()


def test_chatd_ws_group_fan_out(chatd):
    owner, to = register(chatd)
    members = [register(chatd) for _ in range(4)]
    for user, token in members:
        befriend(chatd, to, user, token)
    status, body = chatd.api("POST", "/groups", {
        "name": "fan", "member_ids": [u["id"] for u, _ in members]}, to)
    conv = body["group"]["conversation_id"]
    socks = [chatd.ws(t) for _, t in members]
    wo = chatd.ws(to)
    for i in range(5):
        wo.send_json({"type": "send", "conversation_id": conv,
                      "client_msg_id": f"g{i}", "body": f"to all {i}"})
    for w in socks:
        got = []
        while len(got) < 5:
            f = w.recv_json()
            if f["type"] == "message":
                got.append(f["message"]["seq"])
        assert sorted(got) == [1, 2, 3, 4, 5]
        w.close()
    wo.close()


def test_chatd_ws_logout_closes_sockets(chatd):
    a, ta = register(chatd)
    w = chatd.ws(ta)
    assert chatd.api("POST", "/logout", token=ta)[0] == 200
    assert w.expect_close() == 4001


def test_chatd_ws_send_rate_limit(chatd):
    limited = chatd_env.limited_chatd()
    a, ta, b, tb, conv = pair(limited)
    w = limited.ws(ta)
    for i in range(10):
        w.send_json({"type": "send", "conversation_id": conv,
                     "client_msg_id": f"rl{i}", "body": "fast"})
    frames = []
    while len([f for f in frames if f["type"] in ("ack", "error")]) < 10:
        frames.append(w.recv_json())
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and all(e["code"] == "rate_limited" for e in errors)
    assert all(e["retry_after_ms"] > 0 for e in errors)
    assert len([f for f in frames if f["type"] == "ack"]) >= 3
    w.close()


def test_chatd_ws_huge_frame_closes_with_1009(chatd):
    limited = chatd_env.limited_chatd()
    _, token = register(limited)
    w = limited.ws(token)
    w.send_text("x" * 10000)
    assert w.expect_close() == 1009


def test_chatd_ws_slow_reader_is_dropped(chatd):
    limited = chatd_env.limited_chatd()
    a, ta, b, tb, conv = pair(limited)
    slow = WSClient(limited.port, rcvbuf=2048)
    slow.send_json({"type": "auth", "token": tb})
    assert slow.recv_json()["type"] == "auth_ok"
    # b never reads; a's group of big messages fills b's queue.
    sender = limited.ws(ta)
    body = "y" * 4000
    dropped = False
    for i in range(1500):
        status, reply = limited.api(
            "POST", f"/conversations/{conv}/messages",
            {"client_msg_id": f"slow{i}", "body": body}, ta)
        assert status == 201
        if i % 20 == 19:
            _, text = limited.request("GET", "/metrics")
            if "chatd_slow_clients_dropped_total 0" not in text:
                dropped = True
                break
    assert dropped
    sender.close()
    # The dropped client still finds everything by sync.
    w = limited.ws(tb)
    w.send_json({"type": "sync", "conversations": {str(conv): 0},
                 "limit": 500})
    frames = w.recv_until(of_type("synced"), timeout=30)
    assert len([f for f in frames if f["type"] == "message"]) == i + 1
    w.close()


def test_chatd_ws_unauthenticated_socket_times_out(chatd):
    w = WSClient(chatd.port, timeout=20)
    start = time.monotonic()
    with pytest.raises((WSClosed, ConnectionError, OSError)):
        while True:
            w.recv_json(timeout=20)
    assert time.monotonic() - start < 20


def test_chatd_ws_batched_sends_stay_exact_with_duplicates_and_refusals():
    # One batch at a time, at most 8 sends in it: sends from many sockets
    # pile up and share transactions. A client id reused from another
    # socket of the same user and a send to a foreign conversation sit in
    # the same batches; neither may cost the others their message, a gap
    # in a sequence, or a second copy. A former friend's sends are
    # refused in the same batches.
    chatd = chatd_env.instance("batch", chatd_env.port(20091),
                               send_batch_workers=1, send_batch_max=8)
    pairs = [pair(chatd) for _ in range(3)]
    socks = []  # (socket, conversation, client id prefix)
    for k, (a, ta, b, tb, conv) in enumerate(pairs):
        socks += [(chatd.ws(ta), conv, f"a{k}"), (chatd.ws(ta), conv, f"a{k}"),
                  (chatd.ws(tb), conv, f"b{k}")]
    stranger = chatd.ws(register(chatd)[1])
    ex_a, ex_ta, ex_b, ex_tb, ex_conv = pair(chatd)
    assert chatd.api("DELETE", f"/friends/{ex_b['id']}", token=ex_ta)[0] == 200
    ex_friend = chatd.ws(ex_ta)
    n = 15
    for i in range(n):
        for j, (w, conv, prefix) in enumerate(socks):
            # The two sockets of user a reuse each other's client ids
            # every fifth round (a batch with one rolls back whole).
            reuse = prefix.startswith("a") and i % 5 == 0
            cid = f"{prefix}-{i}" if reuse else f"{prefix}-{j}-{i}"
            w.send_json({"type": "send", "conversation_id": conv,
                         "client_msg_id": cid, "body": f"{j}/{i}"})
        stranger.send_json({"type": "send", "conversation_id": pairs[0][4],
                            "client_msg_id": f"x-{i}", "body": "no"})
        ex_friend.send_json({"type": "send", "conversation_id": ex_conv,
                             "client_msg_id": f"e-{i}", "body": "no"})
    acks = {}
    for j, (w, conv, prefix) in enumerate(socks):
        got = []
        while len(got) < n:
            f = w.recv_json()
            if f["type"] == "ack":
                got.append(f)
            assert f["type"] != "error", f
        acks[j] = got
        w.close()
    errors = [stranger.recv_until(of_type("error"))[-1] for _ in range(n)]
    assert {e["code"] for e in errors} == {"not_found"}
    stranger.close()
    errors = [ex_friend.recv_until(of_type("error"))[-1] for _ in range(n)]
    assert {e["code"] for e in errors} == {"forbidden"}
    ex_friend.close()
    for k, (a, ta, b, tb, conv) in enumerate(pairs):
        mine = [f for j in range(3 * k, 3 * k + 3) for f in acks[j]]
        fresh = [f for f in mine if not f["duplicate"]]
        # b's n, a's two sockets' 2n less the reused ids (stored once).
        stored = n + sum(1 if i % 5 == 0 else 2 for i in range(n))
        assert sorted(f["seq"] for f in fresh) == list(range(1, stored + 1))
        by_id = {}
        for f in mine:
            by_id.setdefault(f["client_msg_id"], set()).add(f["message_id"])
        assert all(len(ids) == 1 for ids in by_id.values())
        status, body = chatd.api(
            "GET", f"/conversations/{conv}/messages?limit=200", token=tb)
        assert status == 200 and len(body["messages"]) == stored
    # The sends did share transactions (so the above tested batches).
    _, text = chatd.request("GET", "/metrics")
    counts = dict(line.split() for line in text.splitlines()
                  if line.startswith("chatd_send_batch"))
    assert int(counts["chatd_send_batched_total"]) > 0, text
