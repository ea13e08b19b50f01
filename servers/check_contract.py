#!/usr/bin/env python3
"""Checks a running server against the endpoint contract in servers/README.md.

    python3 servers/check_contract.py http://127.0.0.1:8080 [--downstream] [--stall]

--downstream: the server was started with DOWNSTREAM_URL pointing at a working server of the
contract, so /io must succeed; without it, /io must answer 500 (DOWNSTREAM_URL unset).
--stall: also check GET /stall (hello-rs only).

Standard library only, so it runs with any python3. Prints every mismatch and exits 1 if there
was one, 0 otherwise.
"""

import argparse
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OCTETS = "application/octet-stream"
CPU_1000 = "1219259225"
# Timing checks allow this much beyond the requested wait: the machine may be busy.
SLACK_S = 1.0


class Checker:
    def __init__(self, base_url):
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise SystemExit(f"check_contract: {base_url!r} is not an http://HOST:PORT URL")
        self.host, self.port = parts.hostname, parts.port or 80
        self.failures = []
        self.checks = 0

    def request(self, method, path, body=None, headers=None):
        """(status, content type, body bytes, seconds) on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            started = time.monotonic()
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            elapsed = time.monotonic() - started
            return response.status, response.getheader("Content-Type", ""), data, elapsed
        finally:
            conn.close()

    def fail(self, what, message):
        self.failures.append(f"{what}: {message}")

    def expect(self, method, path, status, body=None, content_type=None, json_body=None,
               error_prefix=None, min_s=None, max_s=None, request_body=None):
        """One request and its expectations; returns the response body, None if it failed."""
        self.checks += 1
        what = f"{method} {path}"
        headers = {"Content-Type": JSON} if request_body is not None else None
        try:
            got_status, got_type, data, elapsed = self.request(
                method, path, body=request_body, headers=headers
            )
        except (OSError, http.client.HTTPException) as e:
            self.fail(what, f"no response: {e!r}")
            return None
        ok = True

        def mismatch(message):
            nonlocal ok
            ok = False
            self.fail(what, message)

        if got_status != status:
            mismatch(f"status {got_status}, expected {status} (body {data[:200]!r})")
        if content_type and _normal(got_type) != _normal(content_type):
            mismatch(f"Content-Type {got_type!r}, expected {content_type!r}")
        if body is not None and data != body:
            mismatch(f"body {_short(data)}, expected {_short(body)}")
        if json_body is not None or error_prefix is not None:
            try:
                value = json.loads(data)
            except ValueError:
                mismatch(f"body {_short(data)} is not JSON")
            else:
                if json_body is not None and value != json_body:
                    mismatch(f"JSON {value!r}, expected {json_body!r}")
                if error_prefix is not None and not (
                    isinstance(value, dict)
                    and list(value) == ["error"]
                    and isinstance(value["error"], str)
                    and value["error"].startswith(error_prefix)
                ):
                    mismatch(f'JSON {value!r}, expected {{"error": "{error_prefix}..."}}')
        if min_s is not None and elapsed < min_s:
            mismatch(f"answered after {elapsed:.3f} s, expected at least {min_s} s")
        if max_s is not None and elapsed > max_s:
            mismatch(f"answered after {elapsed:.3f} s, expected at most {max_s} s")
        return data if ok else None

    def error(self, method, path, status, message, **kwargs):
        return self.expect(method, path, status, content_type=JSON,
                           json_body={"error": message}, **kwargs)


def _normal(content_type):
    return content_type.replace(" ", "").lower()


def _short(data):
    return repr(data[:60]) + (f"... ({len(data)} bytes)" if len(data) > 60 else "")


def check_basics(c):
    c.expect("GET", "/health", 200, body=b"ok")
    c.expect("GET", "/hello", 200, body=b"Hello World!", content_type=TEXT)


def check_sleep(c):
    sleep_error = "ms must be an integer from 0 to 600000"
    c.expect("GET", "/sleep", 200, body=b"slept 0 ms", content_type=TEXT)
    c.expect("GET", "/sleep?ms=0", 200, body=b"slept 0 ms")
    c.expect("GET", "/sleep?ms=300", 200, body=b"slept 300 ms", min_s=0.3, max_s=0.3 + SLACK_S)
    for bad in ["abc", "-1", "600001", "1.5", ""]:
        c.error("GET", f"/sleep?ms={bad}", 400, sleep_error)


def check_cpu(c):
    c.expect("GET", "/cpu", 200, body=CPU_1000.encode(), content_type=TEXT)
    c.expect("GET", "/cpu?n=1000", 200, body=CPU_1000.encode())
    c.expect("GET", "/cpu?n=0", 200, body=b"1")
    c.expect("GET", "/cpu?n=1", 200, body=b"1103527590")
    for bad in ["x", "-5"]:
        c.error("GET", f"/cpu?n={bad}", 400, "n must be a non-negative integer")


def check_bytes(c):
    c.expect("GET", "/bytes", 200, body=b"x" * 1024, content_type=OCTETS)
    c.expect("GET", "/bytes?n=0", 200, body=b"")
    c.expect("GET", "/bytes?n=100000", 200, body=b"x" * 100000, content_type=OCTETS)
    for bad in ["67108865", "big"]:
        c.error("GET", f"/bytes?n={bad}", 400, "n must be an integer from 0 to 67108864")


def check_items(c):
    item = {"id": 7, "tags": ["a", "é"], "nested": {"none": None, "ratio": 1.5, "ok": True}}
    sent = json.dumps(item).encode()
    c.expect("POST", "/items/orders", 200, content_type=JSON, json_body=item, request_body=sent)
    c.expect("POST", "/items/orders?ms=200", 200, json_body=item, request_body=sent,
             min_s=0.2, max_s=0.2 + SLACK_S)
    c.expect("POST", "/items/x", 200, json_body=[1, "two"], request_body=b'[1, "two"]')
    for bad in [b"{not json", b"", b'{"a": NaN}', b"[1, 2"]:
        c.expect("POST", "/items/orders", 400, content_type=JSON, error_prefix="invalid JSON: ",
                 request_body=bad)
    c.error("POST", "/items/orders?ms=soon", 400, "ms must be an integer from 0 to 600000",
            request_body=sent)


def check_not_found_and_methods(c):
    for path in ["/", "/nope", "/health/", "/hello/world", "/items", "/items/", "/items/a/b"]:
        c.error("POST" if path.startswith("/items") else "GET", path, 404, "not found")
    for method, path in [("POST", "/hello"), ("DELETE", "/health"), ("PUT", "/cpu"),
                         ("POST", "/bytes"), ("POST", "/sleep"), ("OPTIONS", "/hello"),
                         ("GET", "/items/orders"), ("PUT", "/items/orders"), ("POST", "/io")]:
        c.error(method, path, 405, "method not allowed")
    c.expect("HEAD", "/health", 405)


def check_io(c, downstream):
    c.error("GET", "/io?calls=1001", 400, "calls must be an integer from 0 to 1000")
    c.error("GET", "/io?calls=-1", 400, "calls must be an integer from 0 to 1000")
    c.error("GET", "/io?ms=x", 400, "ms must be an integer from 0 to 600000")
    if not downstream:
        c.error("GET", "/io", 500, "DOWNSTREAM_URL is not set")
        return
    c.expect("GET", "/io", 200, content_type=JSON, json_body={"calls": 1, "ms": 0})
    c.expect("GET", "/io?calls=0", 200, json_body={"calls": 0, "ms": 0})
    # Concurrent, not one after another: 5 calls of 300 ms take 0.3 s, not 1.5 s.
    c.expect("GET", "/io?calls=5&ms=300", 200, json_body={"calls": 5, "ms": 300},
             min_s=0.3, max_s=0.3 + SLACK_S)
    c.expect("GET", "/io?calls=100&ms=200", 200, json_body={"calls": 100, "ms": 200},
             min_s=0.2, max_s=0.2 + SLACK_S)


def check_stall(c):
    c.error("GET", "/stall?ms=x", 400, "ms must be an integer from 0 to 600000")
    started = time.monotonic()
    stall = threading.Thread(target=c.expect, args=("GET", "/stall?ms=600", 200),
                             kwargs={"body": b"stalled 600 ms", "min_s": 0.6})
    stall.start()
    time.sleep(0.1)
    # Another connection, during the freeze: answered only when it ends.
    c.expect("GET", "/health", 200, body=b"ok", min_s=0.3)
    if time.monotonic() - started < 0.6:
        c.fail("GET /health during /stall?ms=600", "answered before the freeze ended")
    stall.join()
    c.expect("GET", "/health", 200, body=b"ok", max_s=0.2 + SLACK_S)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--downstream", action="store_true",
                        help="the server has a working DOWNSTREAM_URL: /io must succeed")
    parser.add_argument("--stall", action="store_true", help="also check GET /stall (hello-rs)")
    args = parser.parse_args()

    c = Checker(args.base_url)
    try:
        c.request("GET", "/health")
    except (OSError, http.client.HTTPException) as e:
        print(f"check_contract: cannot reach {args.base_url}: {e}", file=sys.stderr)
        return 1
    check_basics(c)
    check_sleep(c)
    check_cpu(c)
    check_bytes(c)
    check_items(c)
    check_not_found_and_methods(c)
    check_io(c, args.downstream)
    if args.stall:
        check_stall(c)

    if c.failures:
        print(f"check_contract: {args.base_url}: {len(c.failures)} of {c.checks} checks failed:",
              file=sys.stderr)
        for failure in c.failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"check_contract: {args.base_url}: all {c.checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
