"""The example service, after its move behind Palisade.

It used to sign people in itself (bcrypt and Django PBKDF2 password hashes, bcrypt-hashed
`acme_` API keys, HS256 tokens minted with its own secret; see legacy/legacy_auth.py). Now
Palisade does all of that in front of it, and this service only *verifies* who Palisade says is
calling:

- every protected handler requires `X-Palisade-Identity`, an EdDSA JWT Palisade signs for each
  request it forwards, and verifies it against Palisade's JWKS (PyJWT's PyJWKClient): signature,
  algorithm pinned, issuer = Palisade's `auth.issuer`, audience = the name of the Palisade route
  the request came through, `exp`/`nbf`/`iat` present and current. No valid assertion: 401.
- the identity headers (`X-User-Id`/`X-Palisade-User`, `X-User-Roles`/`X-Palisade-Roles`,
  `X-Graph-Id`/`X-Palisade-Tenant`) are a convenience: when present they must agree with the
  verified assertion, else 401. The assertion is what decides.

Environment:
  PALISADE_URL        where the app reaches Palisade, e.g. http://127.0.0.1:8080 (required)
  PALISADE_MOUNT      Palisade's api.mount (default /.palisade): JWKS and the events endpoint
  PALISADE_ISSUER     Palisade's auth.issuer (default palisade)
  PALISADE_ALGORITHMS accepted assertion algorithms, comma-separated (default EdDSA, Palisade's
                      auth.algorithm default); never "none" nor an HMAC algorithm
  PALISADE_SERVICE_KEY_FILE  the service account's API key (audit.events.write), for /v1/tools/run

Run: `uvicorn app:app --app-dir examples/fastapi-app` in the venv of scripts/ensure-fastapi.
"""

import datetime
import html
import json
import os
import threading
import urllib.error
import urllib.request
import uuid

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

PALISADE_URL = os.environ["PALISADE_URL"].rstrip("/")
PALISADE_MOUNT = os.environ.get("PALISADE_MOUNT", "/.palisade").rstrip("/")
PALISADE_ISSUER = os.environ.get("PALISADE_ISSUER", "palisade")
ALGORITHMS = [a.strip() for a in os.environ.get("PALISADE_ALGORITHMS", "EdDSA").split(",")]
if not set(ALGORITHMS) <= {"EdDSA", "ES256", "RS256"}:
    raise SystemExit(f"PALISADE_ALGORITHMS: only EdDSA, ES256, RS256 are accepted, not {ALGORITHMS}")
JWKS_URL = f"{PALISADE_URL}{PALISADE_MOUNT}/.well-known/jwks.json"
EVENTS_URL = f"{PALISADE_URL}{PALISADE_MOUNT}/admin/audit/events"
LEEWAY_SECONDS = 5

# The names of the Palisade routes in front of this app (palisade.toml): an assertion is only
# good for the route it was signed for, so one minted for /v1/... cannot open /admin.
ROUTE_API = "app-api"
ROUTE_GRAPHS = "app-graphs"
ROUTE_ADMIN = "app-admin"

# The app's own header names (set by Palisade's per-route `identity_headers` once configured),
# each with Palisade's built-in name as the fallback.
USER_HEADERS = ("x-user-id", "x-palisade-user")
ROLES_HEADERS = ("x-user-roles", "x-palisade-roles")
TENANT_HEADERS = ("x-graph-id", "x-palisade-tenant")
ADMIN_ROLES = {"admin", "owner"}

# Keys are fetched on first use and again when an unknown `kid` shows up (a signing-key rotation).
jwks = jwt.PyJWKClient(JWKS_URL, cache_keys=True, lifespan=300, timeout=5)

app = FastAPI(title="fastapi-app (behind Palisade)", docs_url=None, redoc_url=None)
_counts: dict[str, int] = {}
_counts_lock = threading.Lock()


class Refused(Exception):
    """A refusal, answered as application/problem+json."""

    def __init__(self, status: int, slug: str, detail: str):
        self.status, self.slug, self.detail = status, slug, detail


@app.exception_handler(Refused)
async def refused(_request: Request, e: Refused) -> JSONResponse:
    body = {"type": f"urn:fastapi-app:problem:{e.slug}", "title": e.slug.replace("-", " "),
            "status": e.status, "detail": e.detail}
    headers = {"WWW-Authenticate": 'Bearer realm="palisade"'} if e.status == 401 else None
    return JSONResponse(body, e.status, headers=headers, media_type="application/problem+json")


@app.middleware("http")
async def count(request: Request, call_next):
    response = await call_next(request)
    with _counts_lock:
        key = f'{request.method} {response.status_code}'
        _counts[key] = _counts.get(key, 0) + 1
    return response


def first_header(request: Request, names: tuple[str, ...]) -> str | None:
    for name in names:
        if (value := request.headers.get(name)) is not None:
            return value
    return None


def verify(request: Request, route: str) -> dict:
    """The verified claims of the request's assertion for `route`, or a 401."""
    token = request.headers.get("x-palisade-identity")
    if not token:
        raise Refused(401, "no-identity", "this service is only reachable through Palisade")
    try:
        key = jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key.key, algorithms=ALGORITHMS, audience=route, issuer=PALISADE_ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "sub", "exp", "nbf", "iat", "jti"]},
        )
    except jwt.PyJWKClientConnectionError:
        raise Refused(503, "identity-keys-unavailable", "Palisade's signing keys cannot be read")
    except jwt.PyJWKClientError:
        raise Refused(401, "bad-identity", "the identity assertion is not signed by Palisade")
    except jwt.InvalidTokenError as e:
        raise Refused(401, "bad-identity", f"the identity assertion is refused: {type(e).__name__}")
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Refused(401, "bad-identity", "the identity assertion carries no roles")
    # The headers must say what the assertion says.
    agree = [
        (first_header(request, USER_HEADERS), claims["sub"]),
        (first_header(request, ROLES_HEADERS), ",".join(roles)),
        (first_header(request, TENANT_HEADERS), claims.get("tenant")),
    ]
    for seen, asserted in agree:
        if seen is not None and seen != asserted:
            raise Refused(401, "identity-mismatch", "identity headers disagree with the assertion")
    return claims


def identity_headers(request: Request) -> dict[str, str]:
    """The identity headers this request carried, to show what reached the app."""
    names = USER_HEADERS + ROLES_HEADERS + TENANT_HEADERS + ("x-user_id",)
    return {n: v for n in names if (v := request.headers.get(n)) is not None}


def api_caller(request: Request) -> dict:
    return verify(request, ROUTE_API)


def graph_caller(request: Request) -> dict:
    return verify(request, ROUTE_GRAPHS)


def admin_caller(request: Request) -> dict:
    return verify(request, ROUTE_ADMIN)


# --- the app's own pages that stayed its own (Palisade's are under its mount) ---------------


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}


@app.get("/auth/login", response_class=HTMLResponse)
def login_page() -> str:
    """The old sign-in page, now a pointer: Palisade signs people in."""
    return (
        "<!doctype html><title>Sign in</title><h1>fastapi-app sign-in</h1>"
        f"<p>Sign-in moved to Palisade: <code>POST {html.escape(PALISADE_MOUNT)}/auth/login</code>.</p>"
    )


@app.get("/metrics", response_class=PlainTextResponse)
def metrics() -> str:
    with _counts_lock:
        rows = sorted(_counts.items())
    lines = ["# TYPE fastapi_app_requests_total counter"]
    for key, n in rows:
        method, status = key.split(" ")
        lines.append(f'fastapi_app_requests_total{{method="{method}",status="{status}"}} {n}')
    return "\n".join(lines) + "\n"


# --- protected -----------------------------------------------------------------------------


@app.get("/v1/me")
def me(request: Request, claims: dict = Depends(api_caller)) -> dict:
    """Who Palisade says is calling: the verified claims and the identity headers received."""
    return {"identity": claims, "headers": identity_headers(request)}


@app.get("/v1/graphs/{graph_id}/nodes")
def nodes(graph_id: str, request: Request, claims: dict = Depends(graph_caller)) -> dict:
    """A tenant's data: the graph is the tenant Palisade authorized (`tenant` claim)."""
    if claims.get("tenant") != graph_id:
        raise Refused(403, "wrong-graph", "the assertion authorizes another graph")
    return {
        "graph": graph_id,
        "nodes": [{"id": f"{graph_id}:n{i}"} for i in range(3)],
        "identity": claims,
        "headers": identity_headers(request),
    }


@app.get("/admin", response_class=HTMLResponse)
def admin_page(claims: dict = Depends(admin_caller)) -> str:
    """The app's own admin page (Palisade's /admin API lives under its mount)."""
    if not ADMIN_ROLES & set(claims["roles"]):
        raise Refused(403, "not-admin", "the app's admin page needs the admin role")
    return (
        "<!doctype html><title>fastapi-app admin</title><h1>fastapi-app admin</h1>"
        f"<p>Signed in as <code>{html.escape(claims['sub'])}</code>.</p>"
        f"<pre id=identity>{html.escape(json.dumps(claims, sort_keys=True))}</pre>"
    )


@app.post("/v1/tools/run")
async def run_tool(request: Request, claims: dict = Depends(api_caller)) -> dict:
    """Runs a (toy) tool and records `app.tool.executed` in Palisade's audit trail.

    The event is recorded before the answer: if Palisade does not take it, the caller gets 503
    and no result (fail closed, as Palisade's own events are).
    """
    try:
        body = await request.json()
    except ValueError:
        raise Refused(400, "bad-body", "the body is not JSON")
    tool = body.get("tool") if isinstance(body, dict) else None
    if tool not in {"count_words", "upper"}:
        raise Refused(422, "unknown-tool", "tool must be count_words or upper")
    text = body.get("input")
    if not isinstance(text, str) or len(text) > 10_000:
        raise Refused(422, "bad-input", "input must be a string of at most 10000 characters")
    result = len(text.split()) if tool == "count_words" else text.upper()
    idempotency_key = request.headers.get("idempotency-key") or str(uuid.uuid4())
    event = {
        "type": "app.tool.executed",
        "occurred_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "idempotency_key": idempotency_key,
        "resource": f"tool:{tool}",
        "action": "execute",
        "result": "success",
        "details": {"on_behalf_of": claims["sub"], "input_chars": len(text)},
    }
    await run_in_threadpool(record_event, event)
    return {"tool": tool, "result": result, "identity": claims}


def record_event(event: dict) -> None:
    """POSTs one event to Palisade's `/admin/audit/events` as the service account."""
    key_file = os.environ.get("PALISADE_SERVICE_KEY_FILE")
    if not key_file:
        raise Refused(503, "audit-unavailable", "no service key configured for app events")
    with open(key_file) as f:
        key = f.read().strip()
    req = urllib.request.Request(
        EVENTS_URL, data=json.dumps({"events": [event]}).encode(), method="POST",
        headers={"content-type": "application/json", "x-api-key": key},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            if res.status // 100 != 2:
                raise Refused(503, "audit-unavailable", "Palisade did not record the event")
    except (urllib.error.URLError, OSError):
        raise Refused(503, "audit-unavailable", "Palisade did not record the event")
