"""The example service's OWN authentication, as it was before the move to Palisade.

Kept for the record and for the fixtures: `scripts/gen-legacy-fixture` makes the legacy data with
these very functions, and `mint_legacy_token.py` mints the tokens the old service handed out, so a
test can show Palisade accepting what the service made. Nothing in `app.py` imports this module any
more: the service now trusts Palisade's identity instead.

What the old service did:
- passwords: bcrypt (cost 12) for accounts made by the service itself, and Django's
  `pbkdf2_sha256$<iterations>$<salt>$<base64>` for accounts carried over from the Django admin the
  service started as;
- API keys: `acme_<8 hex>_<32 base62>`; the first 13 characters (`acme_<8 hex>`) are the visible
  prefix stored in clear to find the row, the whole key is bcrypt-hashed (cost 10);
- tokens: HS256 JWTs signed with one shared secret, `sub` = the account's numeric id as a string,
  `iat` and `exp`, no `iss` and no `aud`.
"""

import base64
import hashlib
import hmac

import bcrypt
import jwt

KEY_PREFIX = "acme_"
BCRYPT_PASSWORD_COST = 12
BCRYPT_KEY_COST = 10
DJANGO_ITERATIONS = 600_000  # Django 4.2's default for pbkdf2_sha256
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SALT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def bcrypt_salt(cost: int, salt16: bytes) -> bytes:
    """A bcrypt salt string (`$2b$<cost>$<22 chars>`) from 16 given bytes.

    The old service used `bcrypt.gensalt()`; the fixture generator passes bytes derived from a
    seed instead so the committed fixture is reproducible. bcrypt's base64 is the standard
    bit packing over another alphabet.
    """
    assert len(salt16) == 16
    std = base64.b64encode(salt16).decode().rstrip("=")
    table = str.maketrans(_STD_ALPHABET, _BCRYPT_ALPHABET)
    return f"$2b${cost:02d}${std.translate(table)}".encode()


def hash_password_bcrypt(password: str, salt16: bytes) -> str:
    """bcrypt of the UTF-8 password, as the service's sign-up did."""
    return bcrypt.hashpw(password.encode(), bcrypt_salt(BCRYPT_PASSWORD_COST, salt16)).decode()


def django_salt(seed: bytes) -> str:
    """A 22-character alphanumeric salt, as Django's `get_random_string(22)` makes."""
    return "".join(_SALT_CHARS[b % len(_SALT_CHARS)] for b in hashlib.sha256(seed).digest()[:22])


def hash_password_django(password: str, salt: str, iterations: int = DJANGO_ITERATIONS) -> str:
    """Django's PBKDF2PasswordHasher format, computed with hashlib as Django itself does."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode().strip()}"


def verify_password(password: str, encoded: str) -> bool:
    """The old sign-in check, for both formats."""
    if encoded.startswith("pbkdf2_sha256$"):
        _, iterations, salt, _ = encoded.split("$", 3)
        again = hash_password_django(password, salt, int(iterations))
        return hmac.compare_digest(again.encode(), encoded.encode())
    return bcrypt.checkpw(password.encode(), encoded.encode())


def make_api_key(seed: bytes) -> str:
    """`acme_<8 hex>_<32 base62>` from seed bytes (the old service used `secrets`)."""
    digest = hashlib.sha512(seed).digest()
    visible = digest[:4].hex()
    body = "".join(_SALT_CHARS[b % len(_SALT_CHARS)] for b in digest[4:36])
    return f"{KEY_PREFIX}{visible}_{body}"


def key_prefix(key: str) -> str:
    """The visible part stored in clear: `acme_` and 8 hex characters."""
    return key[: len(KEY_PREFIX) + 8]


def hash_api_key(key: str, salt16: bytes) -> str:
    """bcrypt of the whole key, as the old key table stored it."""
    return bcrypt.hashpw(key.encode(), bcrypt_salt(BCRYPT_KEY_COST, salt16)).decode()


#: The audience the old service put in its tokens (and checked on every request).
TOKEN_AUDIENCE = "fastapi-app"


def mint_token(secret: bytes, sub: str, now: int, ttl: int = 3600) -> str:
    """An access token as the old service minted it: HS256, its own audience, no issuer."""
    claims = {"sub": sub, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")
