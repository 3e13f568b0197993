#!/usr/bin/env python3
"""Builds benign.jsonl, the benign corpus of the inspect detectors' false-positive tests.

Deterministic (a seeded PRNG over the word lists in sources/; no network): running it again gives
the same file. Each line is a request in the format scripts/inspect-eval reads:
{method, uri, headers, body, expect: "pass", category, source}. Values are realistic input of
ordinary API fields — names (O'Brien, D'Angelo), addresses, prose with quotes and apostrophes,
search queries, code snippets, URLs, e-mail addresses, prices and dates, and JSON documents built
from them. Fields meant to carry SQL or shell commands are out of scope (a route that takes them
excludes those parameters from inspection), so the code snippets hold neither.

Usage: python3 build.py  (writes benign.jsonl beside this file)
"""
import json
import random
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20261206)


def lines(name):
    text = (HERE / "sources" / name).read_text(encoding="utf-8")
    return [l.replace("\\n", "\n") for l in text.splitlines() if l.strip()]


FIRST = lines("first_names.txt")
LAST = lines("last_names.txt")
STREETS = lines("streets.txt")
CITIES = lines("cities.txt")
SENTENCES = lines("sentences.txt")
QUERIES = lines("queries.txt")
CODE = lines("code.txt")
TLDS = ["com", "org", "ie", "co.uk", "de", "io", "net"]
WORDS = [w.strip(".,;:!?\"'()—").lower() for s in SENTENCES for w in s.split()]
WORDS = [w for w in WORDS if w.isalpha()]

records = []


def add(category, value, how="query", field=None):
    field = field or category
    if how == "query":
        uri = "/api/items?" + urllib.parse.urlencode({field: value})
        rec = {"method": "GET", "uri": uri, "headers": {}, "body": None}
    elif how == "form":
        body = urllib.parse.urlencode({field: value})
        rec = {"method": "POST", "uri": "/api/items", "headers": {"content-type": "application/x-www-form-urlencoded"}, "body": body}
    else:
        rec = {"method": "POST", "uri": "/api/items", "headers": {"content-type": "application/json"}, "body": json.dumps(value, ensure_ascii=rng.random() < 0.5)}
    rec.update({"expect": "pass", "category": category, "source": "benign-" + category})
    records.append(rec)


def name():
    f, l = rng.choice(FIRST), rng.choice(LAST)
    return rng.choice([f"{f} {l}", f"{l}, {f}", f"Dr. {f} {l}", f"{f} {l} Jr.", f"Mr & Mrs {l}", f"{f} \"{rng.choice(FIRST)}\" {l}", f"{f[0]}. {l}"])


def address():
    return rng.choice([
        f"{rng.randint(1, 999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
        f"Apt {rng.randint(1, 40)}{rng.choice('ABCD')}, {rng.randint(1, 300)} {rng.choice(STREETS)}",
        f"c/o {name()}, {rng.choice(STREETS)} {rng.randint(1, 99)}, {rng.choice(CITIES)} {rng.randint(10000, 99999)}",
        f"Unit {rng.randint(1, 9)} - {rng.randint(1, 99)} {rng.choice(STREETS)} (rear entrance)",
    ])


def prose():
    n = rng.choice([1, 1, 2, 3])
    return " ".join(rng.choice(SENTENCES) for _ in range(n))


def query():
    q = rng.choice(QUERIES)
    return rng.choice([q, q + " " + rng.choice(WORDS), rng.choice(WORDS) + " " + q, q.title(), f"{q} -{rng.choice(WORDS)}"])


def code():
    c = rng.choice(CODE)
    ident = rng.choice(["data", "rows", "value", "userName", "total_count", "cfg"])
    return c.replace("items", ident) if rng.random() < 0.5 else c


def url():
    host = f"{rng.choice(WORDS)}{rng.choice(['', '-shop', '-blog', 'hub'])}.{rng.choice(TLDS)}"
    path = "/".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
    q = urllib.parse.urlencode({rng.choice(["q", "ref", "page", "utm_source", "id"]): rng.choice([rng.choice(WORDS), str(rng.randint(1, 500))]) for _ in range(rng.randint(0, 3))})
    u = f"https://{host}/{path}"
    return u + ("?" + q if q else "") + rng.choice(["", "", "#top", "#section-2"])


def misc():
    return rng.choice([
        f"{rng.choice(FIRST).lower().replace(' ', '.')}.{rng.choice(LAST).lower().replace(' ', '').replace(chr(39), '')}@example.{rng.choice(TLDS)}",
        f"+353 {rng.randint(80, 89)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(1990, 2030)}",
        f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        f"${rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
        f"€{rng.randint(1, 999)},{rng.randint(0, 99):02d}",
        f"{rng.randint(1, 100)}% off",
        f"SKU-{rng.randint(1000, 9999)}-{rng.choice('ABCXYZ')}",
        f"{rng.randint(1, 12)}' {rng.randint(0, 11)}\"",
        f"#{rng.choice(WORDS)}",
        f"@{rng.choice(FIRST).lower()}_{rng.randint(1, 99)}",
    ])


def document():
    return rng.choice([
        {"name": name(), "address": address(), "note": prose()},
        {"query": query(), "page": rng.randint(1, 20), "filters": {"colour": rng.choice(["red", "blue", "navy"]), "inStock": True}},
        {"title": rng.choice(SENTENCES), "body": prose(), "tags": [rng.choice(WORDS) for _ in range(3)], "link": url()},
        {"customer": {"first": rng.choice(FIRST), "last": rng.choice(LAST), "email": misc()}, "items": [{"sku": misc(), "qty": rng.randint(1, 5)}]},
        {"snippet": code(), "language": rng.choice(["python", "javascript", "rust"]), "author": name()},
    ])


PLAN = [
    ("name", name, 900),
    ("address", address, 800),
    ("prose", prose, 1000),
    ("query", query, 600),
    ("code", code, 300),
    ("url", url, 600),
    ("misc", misc, 500),
    ("json", document, 800),
]
for category, make, count in PLAN:
    for _ in range(count):
        v = make()
        if category == "json":
            add(category, v, how="json")
        else:
            add(category, v, how=rng.choice(["query", "query", "form"]))

with open(HERE / "benign.jsonl", "w", encoding="utf-8") as out:
    for r in records:
        out.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"{len(records)} records")
