"""The endpoint contract of servers/README.md, shared by the Python apps.

Framework-free helpers only: each app keeps its framework's own routing, request and response
objects (that is what a benchmark measures), and these make the answers byte-for-byte those of
hello-rs (servers/hello-rs/src/main.rs).
"""

import json
import os
import re
from urllib.parse import urlsplit

MAX_SLEEP_MS = 600_000
MAX_BYTES = 64 * 1024 * 1024
MAX_CALLS = 1000
_U64_MAX = 2**64 - 1

SLEEP_ERROR = "ms must be an integer from 0 to 600000"
CPU_ERROR = "n must be a non-negative integer"
BYTES_ERROR = "n must be an integer from 0 to 67108864"
CALLS_ERROR = "calls must be an integer from 0 to 1000"
NO_DOWNSTREAM_ERROR = "DOWNSTREAM_URL is not set"
NOT_FOUND = "not found"
METHOD_NOT_ALLOWED = "method not allowed"

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OCTETS = "application/octet-stream"

# Rust's u64 parser: ASCII digits with an optional "+", nothing else (no spaces, no "_").
_UNSIGNED = re.compile(r"\+?[0-9]+")


def _downstream_url():
    """DOWNSTREAM_URL without its trailing "/", None when unset; checked once, at import."""
    url = os.environ.get("DOWNSTREAM_URL", "").rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"DOWNSTREAM_URL {url!r} must look like http://HOST:PORT")
    return url


DOWNSTREAM_URL = _downstream_url()


def param(query, name, default, maximum=_U64_MAX):
    """Integer query parameter as hello-rs reads it from the raw query string: the first
    `name=value` pair, `default` when there is none, None when malformed or above `maximum`."""
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        if equals and key == name:
            if _UNSIGNED.fullmatch(value) and int(value) <= maximum:
                return int(value)
            return None
    return default


def io_params(query):
    """(calls, ms, None) for `/io`, or (None, None, error message)."""
    calls = param(query, "calls", 1, MAX_CALLS)
    if calls is None:
        return None, None, CALLS_ERROR
    ms = param(query, "ms", 0, MAX_SLEEP_MS)
    if ms is None:
        return None, None, SLEEP_ERROR
    return calls, ms, None


def cpu_work(n):
    """N steps of x = (x * 1103515245 + 12345) mod 2^31 from x = 1."""
    x = 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
    return x


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body):
    """Parses a request body as strictly as serde_json (UTF-8, no NaN or Infinity).

    Raises ValueError with the message for `{"error": "invalid JSON: ..."}`."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("recursion limit exceeded") from None


def dumps(value):
    """Compact, UTF-8 JSON like serde_json's to_string."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error(message):
    return dumps({"error": message})


def io_result(calls, ms):
    return dumps({"calls": calls, "ms": ms})


def downstream_problem(status):
    """None for a successful downstream answer, else the message for the 502."""
    return None if status == 200 else f"downstream answered {status}"
