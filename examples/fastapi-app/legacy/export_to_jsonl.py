"""Convert the old service's database export (legacy-db.json) into Palisade's import files.

    python export_to_jsonl.py [legacy-db.json] [OUT_DIR]

writes OUT_DIR/users.jsonl for `palisade user import users.jsonl --format jsonl` and
OUT_DIR/keys.jsonl for `palisade key import keys.jsonl` (defaults: beside this file). This is the
part a team writes for its own schema; the mapping is:

- users: `id` → `external_id` (as a string: Palisade's tokens and X-Palisade-User then carry it),
  `is_active` → `disabled`, `is_admin` → roles ["admin"] else ["member"], `plan` → `tier`,
  `graph_members` → `tenants` (a graph is a Palisade tenant), `password` → `password_hash`
  unchanged (bcrypt or Django PBKDF2; null for accounts that never had a password). Service
  accounts (`kind = "service"`) are not imported as people: Palisade makes them with
  `palisade user add-service --name NAME` (`svc:NAME`), and their keys name that owner.
- keys: `key_prefix` → `prefix`, `key_hash` → `hash` (bcrypt, unchanged), `scopes` (a
  space-separated string) → a list, `label` → `name`, the owner by external id (or `svc:NAME`).
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def users_rows(db: dict) -> list[dict]:
    """One users.jsonl row per person in the export."""
    tenants: dict[int, list[dict]] = {}
    for m in db["graph_members"]:
        tenants.setdefault(m["user_id"], []).append({"tenant": m["graph_id"], "role": m["role"]})
    rows = []
    for u in db["users"]:
        if u["kind"] != "person":
            continue
        rows.append({
            "external_id": str(u["id"]),
            "email": u["email"],
            "name": u["display_name"],
            "disabled": not u["is_active"],
            "roles": ["admin"] if u["is_admin"] else ["member"],
            "tenants": tenants.get(u["id"], []),
            "tier": u["plan"],
            "password_hash": u["password"],
        })
    return rows


def keys_rows(db: dict) -> list[dict]:
    """One keys.jsonl row per API key in the export."""
    owners = {
        u["id"]: (f"svc:{u['username']}" if u["kind"] == "service" else str(u["id"]))
        for u in db["users"]
    }
    return [
        {
            "owner": owners[k["user_id"]],
            "name": k["label"],
            "prefix": k["key_prefix"],
            "hash": k["key_hash"],
            "scopes": k["scopes"].split(),
            "expires_at": k["expires_at"],
            "last_used_at": k["last_used_at"],
        }
        for k in db["api_keys"]
    ]


def write_jsonl(path: pathlib.Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))


def convert(db_path: pathlib.Path, out: pathlib.Path) -> None:
    db = json.loads(db_path.read_text())
    write_jsonl(out / "users.jsonl", users_rows(db))
    write_jsonl(out / "keys.jsonl", keys_rows(db))


if __name__ == "__main__":
    db_path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "legacy-db.json"
    out = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else HERE
    convert(db_path, out)
