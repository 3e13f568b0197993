"""Summary of scripts/api-fuzz: per operation and caller, the test cases schemathesis ran, the 2xx
answers, the server errors (5xx) and the errors that were not application/problem+json, from the
response logs hooks.py writes. Exits non-zero when a goal is missed: fewer than MIN_CASES cases
for an operation (admin, member and anonymous runs together: an operation whose only input is
the credential varies only in the anonymous run, which generates credentials), no 2xx as admin,
a server error, an error that is not problem+json.

An operation with no input at all (no parameter, no body, no credential: /healthz, /readyz,
/metrics, the JWKS) has only a handful of distinct cases (schemathesis also tries other methods
on it); it is marked "no inputs" and not held to MIN_CASES.

Usage: summary.py MIN_CASES DOCUMENT admin=LOG member=LOG anonymous=LOG
"""

import collections
import json
import sys

minimum = int(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f:
    document = json.load(f)
inputless = {
    f"{method.upper()} {path}"
    for path, item in document["paths"].items()
    for method, op in item.items()
    if not op.get("parameters") and not op.get("requestBody") and not any(op.get("security") or [])
}
stats = collections.defaultdict(lambda: collections.defaultdict(lambda: {"cases": set(), "2xx": 0, "5xx": 0, "not_problem": 0, "statuses": collections.Counter()}))
for arg in sys.argv[3:]:
    role, path = arg.split("=", 1)
    with open(path, encoding="utf-8") as log:
        for line in log:
            r = json.loads(line)
            s = stats[r["operation"]][role]
            s["cases"].add(r["case"])
            s["statuses"][r["status"]] += 1
            if 200 <= r["status"] < 300:
                s["2xx"] += 1
            if r["status"] >= 500:
                s["5xx"] += 1
            if r["status"] >= 400 and r["content_type"] != "application/problem+json":
                s["not_problem"] += 1

roles = ["admin", "member", "anonymous"]
head = f"{'operation':<48}{'cases':>7}" + "".join(f"{r[:5] + ' cases':>12}{r[:5] + ' 2xx':>10}" for r in roles) + f"{'5xx':>5}{'non-problem':>12}"
print(head)
print("-" * len(head))
problems = []
totals = collections.Counter()
for op in sorted(stats, key=lambda o: (o.split(" ", 1)[1], o)):
    cases = sum(len(stats[op][r]["cases"]) for r in roles)
    row = f"{op + (' (no inputs)' if op in inputless else ''):<48}{cases:>7}"
    if op not in inputless and cases < minimum:
        problems.append(f"{op}: {cases} cases (< {minimum})")
    five = sum(stats[op][r]["5xx"] for r in roles)
    bad = sum(stats[op][r]["not_problem"] for r in roles)
    for r in roles:
        s = stats[op][r]
        row += f"{len(s['cases']):>12}{s['2xx']:>10}"
        totals[r + " cases"] += len(s["cases"])
    if stats[op]["admin"]["2xx"] == 0:
        problems.append(f"{op}: no 2xx as admin")
    totals["5xx"] += five
    totals["not_problem"] += bad
    if five:
        problems.append(f"{op}: {five} server errors")
    if bad:
        problems.append(f"{op}: {bad} errors not application/problem+json")
    print(row + f"{five:>5}{bad:>12}")
print("-" * len(head))
print(
    f"{len(stats)} operations; cases: admin {totals['admin cases']}, member {totals['member cases']}, "
    f"anonymous {totals['anonymous cases']}; "
    f"operations with a 2xx as admin: {sum(1 for op in stats if stats[op]['admin']['2xx'])}/{len(stats)}; "
    f"server errors: {totals['5xx']}; errors not application/problem+json: {totals['not_problem']}"
)
if problems:
    print("\nGOALS MISSED:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"\nAll goals met: at least {minimum} cases per operation with inputs; a 2xx for every operation as admin, no server error, every error application/problem+json.")
