"""chatd REST API under /api/v1 (docs/chat-api.md), against real
MariaDB, Redis and RabbitMQ."""

import pytest

import chatd_env
from chatd_env import befriend, error_code, register, unique


@pytest.fixture
def chatd():
    return chatd_env.shared_chatd()


def test_chatd_health_ready_and_metrics_answer(chatd):
    assert chatd.request("GET", "/healthz") == (200, "ok\n")
    assert chatd.request("GET", "/readyz") == (200, "ready\n")
    status, text = chatd.request("GET", "/metrics")
    assert status == 200
    assert "chatd_connections " in text
    assert 'chatd_send_seconds_bucket{le="+Inf"}' in text


def test_chatd_register_login_me_logout(chatd):
    name = unique("Reg")
    status, body = chatd.api("POST", "/register", {
        "username": name, "password": "long enough", "display_name": "Ré"})
    assert status == 201
    assert body["user"]["username"] == name.lower()
    assert body["user"]["display_name"] == "Ré"
    assert len(body["token"]) == 64

    status, body = chatd.api("POST", "/login",
                             {"username": name, "password": "long enough"})
    assert status == 200
    token = body["token"]
    status, me = chatd.api("GET", "/me", token=token)
    assert status == 200 and me["user"]["username"] == name.lower()

    assert chatd.api("POST", "/logout", token=token)[0] == 200
    status, body = chatd.api("GET", "/me", token=token)
    assert status == 401 and error_code(body) == "unauthorized"


def test_chatd_register_rejects_bad_input(chatd):
    cases = [
        ({"username": "ab", "password": "long enough"}, "bad_request"),
        ({"username": "bad name!", "password": "long enough"},
         "bad_request"),
        ({"username": unique(), "password": "short"}, "bad_request"),
        ({"username": 5, "password": "long enough"}, "bad_request"),
        ({"username": unique(), "password": "long enough",
          "display_name": "a\u0001b"}, "bad_request"),
        ([1, 2], "bad_json"),
    ]
    for body, code in cases:
        status, reply = chatd.api("POST", "/register", body)
        assert status == 400, (body, reply)
        assert error_code(reply) == code
    status, reply = chatd.api("POST", "/register", raw=b"{not json")
    assert status == 400 and error_code(reply) == "bad_json"


def test_chatd_register_same_username_twice_conflicts(chatd):
    name = unique()
    register(chatd, name)
    status, body = chatd.api("POST", "/register",
                             {"username": name.upper(),
                              "password": "another one"})
    assert status == 409 and error_code(body) == "username_taken"


def test_chatd_login_wrong_password_and_unknown_user_look_alike(chatd):
    user, _ = register(chatd)
    a = chatd.api("POST", "/login", {"username": user["username"],
                                     "password": "wrong password"})
    b = chatd.api("POST", "/login", {"username": unique(),
                                     "password": "wrong password"})
    assert a[0] == b[0] == 401
    assert a[1] == b[1]


def test_chatd_requests_without_or_with_bad_token_are_unauthorized(chatd):
    for token in (None, "0" * 64, "not-a-token"):
        status, body = chatd.api("GET", "/friends", token=token)
        assert status == 401 and error_code(body) == "unauthorized"


def test_chatd_unknown_route_and_wrong_method(chatd):
    _, token = register(chatd)
    status, body = chatd.api("GET", "/nothing-here", token=token)
    assert status == 404 and error_code(body) == "not_found"
    status, body = chatd.api("DELETE", "/me", token=token)
    assert status == 405 and error_code(body) == "method_not_allowed"
    status, body = chatd.api("GET", "/users/0", token=token)
    assert status == 404


def test_chatd_body_over_limit_is_refused(chatd):
    _, token = register(chatd)
    status, body = chatd.api("POST", "/groups", token=token,
                             raw=b'{"name":"' + b"x" * 70000 + b'"}')
    assert status == 413 and error_code(body) == "too_large"


def test_chatd_register_rate_limit_per_address(chatd):
    addr = "10.9.8." + str(len(unique()) % 200)
    limited = chatd_env.limited_chatd()
    codes = []
    for _ in range(4):
        status, body = limited.api(
            "POST", "/register",
            {"username": unique(), "password": "long enough"},
            headers={"X-Real-IP": addr})
        codes.append(status)
    assert codes[:2] == [201, 201]
    assert codes[-1] == 429
    # Another address is not affected.
    status, _ = limited.api("POST", "/register",
                            {"username": unique(), "password": "long enough"},
                            headers={"X-Real-IP": addr + "1"})
    assert status == 201


def test_chatd_user_search_and_get(chatd):
    prefix = unique("srch")
    a, ta = register(chatd, prefix + "a")
    b, _ = register(chatd, prefix + "b")
    status, body = chatd.api("GET", f"/users?q={prefix}", token=ta)
    assert status == 200
    names = [u["username"] for u in body["users"]]
    assert names == [b["username"]]  # the caller is left out
    assert "pw_hash" not in str(body)
    status, body = chatd.api("GET", f"/users/{b['id']}", token=ta)
    assert status == 200 and body["user"]["id"] == b["id"]
    status, body = chatd.api("GET", "/users?q=", token=ta)
    assert status == 400
    status, body = chatd.api("GET", "/users?q=a%25&limit=1", token=ta)
    assert status == 400
    status, body = chatd.api("GET", f"/users?q={prefix}&limit=99", token=ta)
    assert status == 400


def test_chatd_friend_request_accept_reject_and_list(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    c, tc = register(chatd)

    status, body = chatd.api("POST", "/friends/requests",
                             {"username": b["username"]}, ta)
    assert status == 201 and body["request"]["state"] == "pending"
    rid = body["request"]["id"]
    status, body = chatd.api("POST", "/friends/requests",
                             {"user_id": b["id"]}, ta)
    assert status == 409
    status, body = chatd.api("GET", "/friends/requests", token=tb)
    assert [r["id"] for r in body["incoming"]] == [rid]
    status, body = chatd.api("GET", "/friends/requests", token=ta)
    assert [r["id"] for r in body["outgoing"]] == [rid]

    # Only the target accepts.
    status, _ = chatd.api("POST", f"/friends/requests/{rid}/accept", None,
                          tc)
    assert status == 404
    status, body = chatd.api("POST", f"/friends/requests/{rid}/accept",
                             None, tb)
    assert status == 200 and body["friend"]["id"] == a["id"]
    conv = body["conversation_id"]
    status, body = chatd.api("POST", f"/friends/requests/{rid}/accept",
                             None, tb)
    assert status == 409

    status, body = chatd.api("GET", "/friends", token=ta)
    assert [(f["user"]["id"], f["conversation_id"])
            for f in body["friends"]] == [(b["id"], conv)]

    # c asks a, a rejects.
    status, body = chatd.api("POST", "/friends/requests",
                             {"user_id": a["id"]}, tc)
    rid2 = body["request"]["id"]
    assert chatd.api("POST", f"/friends/requests/{rid2}/reject", None,
                     ta)[0] == 200
    assert chatd.api("POST", f"/friends/requests/{rid2}/reject", None,
                     ta)[0] == 404

    # Errors: yourself, unknown users, bad ids.
    assert chatd.api("POST", "/friends/requests", {"user_id": a["id"]},
                     ta)[0] == 400
    assert chatd.api("POST", "/friends/requests", {"user_id": 10**12},
                     ta)[0] == 404
    assert chatd.api("POST", "/friends/requests", {"user_id": "1"},
                     ta)[0] == 400
    assert chatd.api("POST", "/friends/requests", {}, ta)[0] == 400


def test_chatd_crossed_requests_become_a_friendship(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    assert chatd.api("POST", "/friends/requests", {"user_id": b["id"]},
                     ta)[0] == 201
    status, body = chatd.api("POST", "/friends/requests",
                             {"user_id": a["id"]}, tb)
    assert status == 200
    assert body["request"]["state"] == "accepted"
    assert body["conversation_id"] > 0


def test_chatd_unfriend_blocks_direct_sends(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    conv = befriend(chatd, ta, b, tb)
    assert chatd.api("DELETE", f"/friends/{b['id']}", token=ta)[0] == 200
    status, body = chatd.api("POST", f"/conversations/{conv}/messages",
                             {"client_msg_id": "x1", "body": "hi"}, ta)
    assert status == 403 and error_code(body) == "forbidden"
    assert chatd.api("DELETE", f"/friends/{b['id']}", token=ta)[0] == 404


def test_chatd_groups_create_list_members(chatd):
    owner, to = register(chatd)
    f1, t1 = register(chatd)
    f2, t2 = register(chatd)
    stranger, ts = register(chatd)
    befriend(chatd, to, f1, t1)
    befriend(chatd, to, f2, t2)

    status, body = chatd.api("POST", "/groups", {"name": "ops",
                                                 "member_ids": [f1["id"]]},
                             to)
    assert status == 201
    group = body["group"]
    assert group["owner_id"] == owner["id"]
    assert sorted(m["id"] for m in group["members"]) == sorted(
        [owner["id"], f1["id"]])
    gid = group["id"]

    assert chatd.api("POST", "/groups", {"name": "x",
                                         "member_ids": [stranger["id"]]},
                     to)[0] == 403
    assert chatd.api("POST", "/groups", {"name": ""}, to)[0] == 400
    assert chatd.api("POST", "/groups", {"name": "x", "member_ids": "1"},
                     to)[0] == 400

    status, body = chatd.api("GET", "/groups", token=t1)
    assert [(g["id"], g["member_count"]) for g in body["groups"]] == [
        (gid, 2)]
    assert chatd.api("GET", f"/groups/{gid}", token=ts)[0] == 404

    assert chatd.api("POST", f"/groups/{gid}/members", {"user_id": f2["id"]},
                     to)[0] == 200
    assert chatd.api("POST", f"/groups/{gid}/members", {"user_id": f2["id"]},
                     to)[0] == 409
    assert chatd.api("POST", f"/groups/{gid}/members",
                     {"user_id": stranger["id"]}, to)[0] == 403
    # Members cannot remove others; the owner can; the owner cannot leave.
    assert chatd.api("DELETE", f"/groups/{gid}/members/{f2['id']}",
                     token=t1)[0] == 403
    assert chatd.api("DELETE", f"/groups/{gid}/members/{owner['id']}",
                     token=to)[0] == 409
    assert chatd.api("DELETE", f"/groups/{gid}/members/{f2['id']}",
                     token=to)[0] == 200
    assert chatd.api("DELETE", f"/groups/{gid}/members/{f1['id']}",
                     token=t1)[0] == 200
    # Left members see nothing any more.
    assert chatd.api("GET", f"/groups/{gid}", token=t1)[0] == 404
    status, body = chatd.api(
        "GET", f"/conversations/{group['conversation_id']}/messages",
        token=t1)
    assert status == 404


def test_chatd_conversations_history_paging_and_read(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    conv = befriend(chatd, ta, b, tb)
    status, body = chatd.api("POST", "/conversations/direct",
                             {"user_id": b["id"]}, ta)
    assert status == 200 and body["conversation"]["id"] == conv
    assert body["conversation"]["peer"]["id"] == b["id"]

    for i in range(1, 8):
        status, body = chatd.api("POST", f"/conversations/{conv}/messages",
                                 {"client_msg_id": f"m{i}",
                                  "body": f"hello {i}"}, ta)
        assert status == 201 and body["message"]["seq"] == i

    status, body = chatd.api("GET", f"/conversations/{conv}/messages?limit=3",
                             token=tb)
    assert [m["seq"] for m in body["messages"]] == [5, 6, 7]
    assert body["has_more"] is True
    status, body = chatd.api(
        "GET", f"/conversations/{conv}/messages?before=5&limit=3", token=tb)
    assert [m["seq"] for m in body["messages"]] == [2, 3, 4]
    status, body = chatd.api(
        "GET", f"/conversations/{conv}/messages?after=5", token=tb)
    assert [m["seq"] for m in body["messages"]] == [6, 7]
    assert body["has_more"] is False
    assert chatd.api("GET", f"/conversations/{conv}/messages?limit=0",
                     token=tb)[0] == 400

    status, body = chatd.api("GET", "/conversations", token=tb)
    c = [x for x in body["conversations"] if x["id"] == conv][0]
    assert c["unread"] == 7 and c["last_message"]["seq"] == 7
    status, body = chatd.api("POST", f"/conversations/{conv}/read",
                             {"seq": 5}, tb)
    assert status == 200 and body["read_seq"] == 5
    # Never backwards, never past the end.
    assert chatd.api("POST", f"/conversations/{conv}/read", {"seq": 2},
                     tb)[1]["read_seq"] == 5
    assert chatd.api("POST", f"/conversations/{conv}/read", {"seq": 999},
                     tb)[1]["read_seq"] == 7


def test_chatd_someone_elses_conversation_leaks_nothing(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    eve, te = register(chatd)
    conv = befriend(chatd, ta, b, tb)
    chatd.api("POST", f"/conversations/{conv}/messages",
              {"client_msg_id": "secret1", "body": "the secret"}, ta)
    for method, path, body in [
            ("GET", f"/conversations/{conv}/messages", None),
            ("POST", f"/conversations/{conv}/messages",
             {"client_msg_id": "e1", "body": "hi"}),
            ("POST", f"/conversations/{conv}/read", {"seq": 1}),
            ("GET", "/conversations/999999999/messages", None)]:
        status, reply = chatd.api(method, path, body, te)
        assert status == 404, (path, reply)
        assert "the secret" not in str(reply)
    # The same client_msg_id as someone else's is no duplicate for eve.
    status, body = chatd.api("GET", "/conversations", token=te)
    assert body["conversations"] == []


def test_chatd_rest_send_is_idempotent_on_client_msg_id(chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    conv = befriend(chatd, ta, b, tb)
    s1, first = chatd.api("POST", f"/conversations/{conv}/messages",
                          {"client_msg_id": "dup-1", "body": "once"}, ta)
    s2, again = chatd.api("POST", f"/conversations/{conv}/messages",
                          {"client_msg_id": "dup-1", "body": "once"}, ta)
    assert (s1, s2) == (201, 200)
    assert again["duplicate"] is True
    assert again["message"]["id"] == first["message"]["id"]
    status, body = chatd.api("GET", f"/conversations/{conv}/messages",
                             token=tb)
    assert len(body["messages"]) == 1
    bad = [{"client_msg_id": "", "body": "x"},
           {"client_msg_id": "a b", "body": "x"},
           {"client_msg_id": "ok", "body": ""},
           {"client_msg_id": "ok", "body": 5}]
    for msg in bad:
        assert chatd.api("POST", f"/conversations/{conv}/messages", msg,
                         ta)[0] == 400
    status, body = chatd.api("POST", f"/conversations/{conv}/messages",
                             {"client_msg_id": "big", "body": "x" * 5000},
                             ta)
    assert status == 413 and error_code(body) == "too_large"


def test_chatd_garbage_on_every_route_gets_an_error_not_a_crash(chatd):
    _, token = register(chatd)
    paths = ["/register", "/login", "/me", "/users?q=abc",
             "/users/1", "/friends/requests", "/friends/requests/1/accept",
             "/friends/requests/1/reject", "/friends", "/friends/1",
             "/groups", "/groups/1", "/groups/1/members",
             "/groups/1/members/2", "/conversations",
             "/conversations/direct", "/conversations/1/messages",
             "/conversations/1/read"]
    bodies = [b"", b"null", b"[]", b"{", b'{"name":[],"user_id":{}}',
              b'{"user_id":-1,"seq":"x","member_ids":[0,"a",null]}',
              b'{"client_msg_id":1,"body":null}', b"\xff\xfe",
              b'{"member_ids":' + b"[1," * 100 + b"1" + b"]" * 100 + b"}"]
    for path in paths:
        for method in ("GET", "POST", "DELETE"):
            for raw in bodies:
                status, reply = chatd.api(method, path, token=token,
                                          raw=raw or None)
                assert status < 500, (method, path, raw, reply)
    assert chatd.request("GET", "/healthz")[0] == 200
    # The socket side too.
    w = chatd.ws(token)
    for raw in [b for b in bodies if b != b"\xff\xfe"] + [
            b'{"type":"send"}', b'{"type":"sync","limit":0}',
                         b'{"type":"read","conversation_id":1}']:
        w.send_text(raw)
        f = w.recv_json()
        assert f["type"] == "error", (raw, f)
    w.close()
