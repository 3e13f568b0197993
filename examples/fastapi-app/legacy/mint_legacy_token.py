"""Mint an access token exactly as the old service did (TEST ONLY).

    python mint_legacy_token.py --sub 1001 --now 1767225600 [--ttl 3600] [--secret-file FILE]

prints an HS256 JWT with `sub`, `iat` = --now and `exp` = --now + --ttl, signed with the secret in
TEST_ONLY_hs256_secret (beside this file) unless --secret-file names another. The caller gives the
time, so a test decides whether the token is fresh or expired from its own clock.
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from legacy_auth import mint_token  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sub", required=True, help="the account's external id")
parser.add_argument("--now", required=True, type=int, help="issue time, Unix seconds")
parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
parser.add_argument(
    "--secret-file",
    type=pathlib.Path,
    default=pathlib.Path(__file__).resolve().parent / "TEST_ONLY_hs256_secret",
)
args = parser.parse_args()
secret = args.secret_file.read_bytes().rstrip(b"\n")
print(mint_token(secret, args.sub, args.now, args.ttl))
