"""DELETE /api/v1/account (docs/chat-api.md): the password again, then
the user and what is theirs go, and their sockets are closed, on every
instance."""

import os

import pytest

import chatd_env
from chatd_env import befriend, error_code, of_type, register


@pytest.fixture
def chatd():
    return chatd_env.shared_chatd()


def delete(chatd, token, password="correct horse", **kw):
    return chatd.api("DELETE", "/account", {"password": password}, token,
                     **kw)


def test_chatd_account_delete_refuses_wrong_password(chatd):
    user, token = register(chatd)
    status, body = delete(chatd, token, "not the password")
    assert status == 401 and error_code(body) == "unauthorized"
    status, body = chatd.api("GET", "/me", token=token)
    assert status == 200 and body["user"]["id"] == user["id"]


def test_chatd_account_delete_needs_token_and_password(chatd):
    _, token = register(chatd)
    status, body = delete(chatd, None)
    assert status == 401 and error_code(body) == "unauthorized"
    status, body = chatd.api("DELETE", "/account", None, token)
    assert status == 400 and error_code(body) == "bad_json"
    status, body = chatd.api("DELETE", "/account", {"password": 5}, token)
    assert status == 400 and error_code(body) == "bad_request"
    status, body = chatd.api("GET", "/account", token=token)
    assert status == 405


def test_chatd_deleted_user_cannot_log_in_and_friend_no_longer_lists_them(
        chatd):
    a, ta = register(chatd)
    b, tb = register(chatd)
    conv = befriend(chatd, ta, b, tb)
    assert chatd.api("POST", f"/conversations/{conv}/messages",
                     {"client_msg_id": "d1", "body": "hello"}, ta)[0] == 201
    c, tc = register(chatd)
    assert chatd.api("POST", "/friends/requests", {"user_id": c["id"]},
                     ta)[0] == 201
    wb = chatd.ws(tb)

    status, body = delete(chatd, ta)
    assert status == 200 and body == {"ok": True}

    ev = wb.recv_until(of_type("event"))[-1]
    assert ev == {"type": "event", "kind": "friend_removed",
                  "user_id": a["id"]}
    status, body = chatd.api("POST", "/login", {
        "username": a["username"], "password": "correct horse"})
    assert status == 401 and error_code(body) == "unauthorized"
    status, body = chatd.api("GET", "/me", token=ta)
    assert status == 401
    assert chatd.api("GET", "/friends", token=tb)[1]["friends"] == []
    convs = chatd.api("GET", "/conversations", token=tb)[1]["conversations"]
    assert conv not in [x["id"] for x in convs]
    status, _ = chatd.api("GET", f"/conversations/{conv}/messages", token=tb)
    assert status in (403, 404)
    assert chatd.api("GET", f"/users/{a['id']}", token=tb)[0] == 404
    requests = chatd.api("GET", "/friends/requests", token=tc)[1]
    assert requests["incoming"] == []
    found = chatd.api("GET", f"/users?q={a['username']}", token=tb)[1]
    assert found["users"] == []
    # The name is free again.
    status, _ = chatd.api("POST", "/register", {
        "username": a["username"], "password": "a new one"},
        headers={"X-Real-IP": "10.200.%d.%d" % tuple(os.urandom(2))})
    assert status == 201
    wb.close()


def test_chatd_account_delete_closes_every_socket(chatd):
    a, ta = register(chatd)
    status, body = chatd.api("POST", "/login", {
        "username": a["username"], "password": "correct horse"})
    other_session = body["token"]
    w1 = chatd.ws(ta)
    w2 = chatd.ws(other_session)
    assert delete(chatd, ta)[0] == 200
    assert w1.expect_close() == 4001
    assert w2.expect_close() == 4001
    assert chatd.api("GET", "/me", token=other_session)[0] == 401


def test_chatd_account_delete_leaves_groups_to_the_others(chatd):
    owner, to = register(chatd)
    b, tb = register(chatd)
    c, tc = register(chatd)
    befriend(chatd, to, b, tb)
    befriend(chatd, to, c, tc)
    status, body = chatd.api("POST", "/groups", {
        "name": "stays", "member_ids": [b["id"], c["id"]]}, to)
    group = body["group"]
    conv = group["conversation_id"]
    for i, token in enumerate((to, tb)):
        assert chatd.api("POST", f"/conversations/{conv}/messages",
                         {"client_msg_id": f"g{i}", "body": "hi"},
                         token)[0] == 201
    status, body = chatd.api("POST", "/groups", {"name": "alone"}, to)
    alone = body["group"]["id"]
    wc = chatd.ws(tc)

    assert delete(chatd, to)[0] == 200

    ev = wc.recv_until(lambda f: f.get("kind") == "group_member_removed")[-1]
    assert ev["group"]["id"] == group["id"] and ev["user_id"] == owner["id"]
    status, body = chatd.api("GET", f"/groups/{group['id']}", token=tb)
    assert status == 200
    assert body["group"]["owner_id"] in (b["id"], c["id"])
    assert sorted(m["id"] for m in body["group"]["members"]) == sorted(
        [b["id"], c["id"]])
    # History keeps its sequence: both messages are still there.
    status, body = chatd.api("GET", f"/conversations/{conv}/messages",
                             token=tc)
    assert [m["seq"] for m in body["messages"]] == [1, 2]
    assert chatd.svc.sql(
        f"SELECT COUNT(*) FROM chat_groups WHERE id = {alone}").strip() == "0"
    for table, col in (("sessions", "user_id"), ("conv_members", "user_id"),
                       ("friendships", "friend_id"),
                       ("friend_requests", "to_id")):
        n = chatd.svc.sql(f"SELECT COUNT(*) FROM {table} "
                          f"WHERE {col} = {owner['id']}").strip()
        assert n == "0", table
    wc.close()


def test_chatd_account_delete_is_rate_limited_per_address():
    limited = chatd_env.limited_chatd()
    _, token = register(limited)
    addr = {"X-Real-IP": "10.201.%d.%d" % tuple(os.urandom(2))}
    codes = [delete(limited, token, "wrong password", headers=addr)[0]
             for _ in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]
    status, _ = delete(limited, token, headers=addr)
    assert status == 429
    other = {"X-Real-IP": "10.202.%d.%d" % tuple(os.urandom(2))}
    assert delete(limited, token, headers=other)[0] == 200


@pytest.fixture
def two_instances():
    return chatd_env.instance_pair()


def test_chatd_account_delete_closes_sockets_on_other_instances(
        two_instances):
    one, two = two_instances
    a, ta = register(one)
    far = two.ws(ta)
    assert delete(one, ta)[0] == 200
    assert far.expect_close() == 4001
