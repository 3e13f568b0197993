"""Fixtures for scripts/api-fuzz: signs the admin and the member in, creates what the examples of
the OpenAPI document name (tenants, a membership, grants, a service account, secrets, a transit
ciphertext, an IP block, spare sessions and API keys of each caller), and writes one copy of the
document per caller with those live values as examples, so the examples phase of schemathesis
reaches a 2xx on every operation the caller may call.

Usage: fixtures.py BASE_URL OUT_DIR   (ADMIN_EMAIL, MEMBER_EMAIL, PASSWORD in the environment)
Writes OUT_DIR/admin.token, OUT_DIR/member.token, OUT_DIR/openapi-admin.json,
OUT_DIR/openapi-member.json, and prints fresh tokens on request (`token ROLE`).
"""

import http.client
import json
import os
import sys
import time
import urllib.parse

BASE = sys.argv[1]
URL = urllib.parse.urlsplit(BASE)
PASSWORD = os.environ["PASSWORD"]
EMAILS = {"admin": os.environ["ADMIN_EMAIL"], "member": os.environ["MEMBER_EMAIL"]}
# The client address of the request that gets blocked (all of 127/8 is loopback on Linux).
BLOCKED_IP = "127.0.0.2"


def call(method, path, body=None, token=None, source="127.0.0.1", expect=None):
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30, source_address=(source, 0))
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    res = conn.getresponse()
    raw = res.read()
    conn.close()
    if expect is not None and res.status not in expect:
        sys.exit(f"fixture {method} {path}: {res.status} {raw[:300]!r}")
    return res.status, (json.loads(raw) if raw and raw[:1] in b"{[" else None)


def login(role):
    _, tokens = call("POST", "/auth/login", {"email": EMAILS[role], "password": PASSWORD}, expect=[200])
    return tokens


def current_session(token):
    _, listed = call("GET", "/auth/sessions", token=token, expect=[200])
    return next(s["id"] for s in listed["sessions"] if s["current"])


def main():
    out = sys.argv[2]
    if out == "token":
        print(login(sys.argv[3])["access_token"])
        return
    admin = login("admin")["access_token"]
    member = login("member")["access_token"]
    _, me = call("GET", "/auth/me", token=member, expect=[200])
    member_id = me["subject"]

    # Shared fixtures, made by the admin.
    for tenant in ("acme", "doomed"):
        call("POST", "/admin/tenants", {"id": tenant, "name": tenant.title()}, admin, expect=[201])
    call("PUT", f"/admin/tenants/acme/members/{member_id}", {"role": "member"}, admin, expect=[204])
    call("PUT", f"/admin/tenants/acme/grants/{member_id}", {"grants": ["graphs.read"]}, admin, expect=[204])
    _, robot = call("POST", "/admin/service-accounts", {"name": "fuzz-robot", "roles": ["member"]}, admin, expect=[201])
    for path in ("db", "gone", "old"):
        call("PUT", f"/v1/secrets/{path}", {"value": f"{path}-value"}, admin, expect=[201])
    call("DELETE", "/v1/secrets/old", token=admin, expect=[200])
    context = "b3JkZXItNDI="
    _, sealed = call(
        "POST", "/v1/transit/encrypt", {"key": "orders", "plaintext": "aGVsbG8=", "context": context}, admin, expect=[200]
    )
    # 500 invitations from BLOCKED_IP: the fuzz configuration's alert rule blocks that address,
    # so DELETE /admin/ip-blocks/{ip} has a block to lift.
    for n in range(500):
        status, _ = call("POST", "/auth/invites", {"email": f"sentinel{n}@example.com"}, admin, source=BLOCKED_IP)
        if status == 403:
            break
    for _ in range(100):
        _, blocks = call("GET", "/admin/ip-blocks", token=admin, expect=[200])
        if any(b["ip"] == BLOCKED_IP for b in blocks["blocks"]):
            break
        time.sleep(0.1)
    else:
        sys.exit(f"fixture: {BLOCKED_IP} was not blocked")

    _, doc = call("GET", "/admin/openapi.json", token=admin, expect=[200])
    for role, token in (("admin", admin), ("member", member)):
        # A spare session to end and a refresh token to use, other than the run's own token.
        spare = current_session(login(role)["access_token"])
        refresh = login(role)["refresh_token"]
        keys = [call("POST", "/auth/api-keys", {"name": f"fuzz-{n}"}, token, expect=[201])[1]["id"] for n in (1, 2)]
        examples = {
            ("/auth/sessions/{id}", "delete"): {"id": spare},
            ("/auth/api-keys/{id}", "delete"): {"id": keys[0]},
            ("/auth/api-keys/{id}/rotate", "post"): {"id": keys[1]},
            ("/admin/tenants/{id}/members/{user}", "put"): {"user": member_id},
            ("/admin/tenants/{id}/members/{user}", "delete"): {"user": member_id},
            ("/admin/tenants/{id}/grants/{user}", "put"): {"user": member_id},
            ("/admin/tenants/{id}/grants/{user}", "delete"): {"user": member_id},
            ("/admin/service-accounts/{id}/api-keys", "post"): {"id": robot["id"]},
            ("/admin/ip-blocks/{ip}", "delete"): {"ip": BLOCKED_IP},
        }
        bodies = {
            ("/auth/refresh", "post"): {"refresh_token": refresh},
            ("/v1/transit/decrypt", "post"): {"key": "orders", "ciphertext": sealed["ciphertext"], "context": context},
            ("/v1/transit/rewrap", "post"): {"key": "orders", "ciphertext": sealed["ciphertext"], "context": context},
        }
        mine = json.loads(json.dumps(doc))
        for (path, method), params in examples.items():
            for param in mine["paths"][path][method]["parameters"]:
                if param["name"] in params:
                    param["example"] = params[param["name"]]
        for (path, method), body in bodies.items():
            mine["paths"][path][method]["requestBody"]["content"]["application/json"]["example"] = body
        with open(os.path.join(out, f"openapi-{role}.json"), "w", encoding="utf-8") as f:
            json.dump(mine, f, indent=2)
        with open(os.path.join(out, f"{role}.token"), "w", encoding="utf-8") as f:
            f.write(token)


main()
