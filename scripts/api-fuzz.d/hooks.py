"""schemathesis hooks for scripts/api-fuzz (loaded through SCHEMATHESIS_HOOKS).

- The check `problem_json_errors`: every 4xx and 5xx answer of Palisade is
  `application/problem+json` (RFC 9457), whatever the input.
- Every response is also appended to $API_FUZZ_LOG (one JSON line: case id, operation, status,
  content type), which summary.py counts per operation.
"""

import json
import os

import schemathesis

_LOG = os.environ.get("API_FUZZ_LOG")


def _content_type(response):
    values = response.headers.get("content-type") or [""]
    return values[0].split(";")[0].strip().lower()


def _phase(case):
    meta = case.meta
    return str(meta.phase.name.value) if meta is not None else "?"


@schemathesis.check
def problem_json_errors(ctx, response, case):
    """Every error answer is application/problem+json."""
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(
                json.dumps(
                    {
                        "case": case.id,
                        "operation": case.operation.label,
                        "status": response.status_code,
                        "content_type": _content_type(response),
                        "phase": _phase(case),
                        "path": case.formatted_path,
                        "auth": "authorization" in {k.lower() for k in (case.headers or {})},
                    }
                )
                + "\n"
            )
    if response.status_code >= 400 and _content_type(response) != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answered as {_content_type(response) or 'no content type'}, "
            "not application/problem+json"
        )
