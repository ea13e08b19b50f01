"""Flask (WSGI) app: the endpoint contract of servers/README.md.

Any WSGI server runs it with servers/python/ on the Python path (commands in README.md), e.g.
`gunicorn --pythonpath servers/python flask_app:app`.
"""

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.routing import Rule

import contract


class _NoHeadRule(Rule):
    # werkzeug answers HEAD on every GET route; hello-rs, and so the contract, answer 405.
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.methods is not None:
            self.methods.discard("HEAD")


class _App(Flask):
    url_rule_class = _NoHeadRule


app = _App(__name__, static_folder=None)
app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # OPTIONS is a wrong method too: 405


def text(body, status=200):
    return Response(body, status=status, content_type=contract.TEXT)


def json_response(body, status=200):
    return Response(body, status=status, content_type=contract.JSON)


def query():
    # The raw query string, parsed like hello-rs does; request.args would decode it first.
    return request.environ.get("QUERY_STRING", "")


@app.errorhandler(404)
def not_found(_error):
    return json_response(contract.error(contract.NOT_FOUND), 404)


@app.errorhandler(405)
def method_not_allowed(_error):
    return json_response(contract.error(contract.METHOD_NOT_ALLOWED), 405)


@app.get("/health")
def health():
    return text("ok")


@app.get("/hello")
def hello():
    return text("Hello World!")


@app.get("/sleep")
def sleep():
    ms = contract.param(query(), "ms", 0, contract.MAX_SLEEP_MS)
    if ms is None:
        return json_response(contract.error(contract.SLEEP_ERROR), 400)
    time.sleep(ms / 1000)
    return text(f"slept {ms} ms")


@app.post("/items/<kind>")
def items(kind):
    ms = contract.param(query(), "ms", 0, contract.MAX_SLEEP_MS)
    if ms is None:
        return json_response(contract.error(contract.SLEEP_ERROR), 400)
    try:
        value = contract.parse_json(request.get_data())
    except ValueError as e:
        return json_response(contract.error(f"invalid JSON: {e}"), 400)
    time.sleep(ms / 1000)
    return json_response(contract.dumps(value))


@app.get("/cpu")
def cpu():
    n = contract.param(query(), "n", 1000)
    if n is None:
        return json_response(contract.error(contract.CPU_ERROR), 400)
    return text(str(contract.cpu_work(n)))


@app.get("/bytes")
def bytes_():
    n = contract.param(query(), "n", 1024, contract.MAX_BYTES)
    if n is None:
        return json_response(contract.error(contract.BYTES_ERROR), 400)
    return Response(b"x" * n, content_type=contract.OCTETS)


class _Downstream:
    """`/io`'s client: blocking calls on a pool of threads.

    Under gunicorn's or uwsgi's gevent worker, gevent's monkey-patching turns these threads,
    sockets and sleeps into greenlets: the grequests pattern. Under sync, gthread, waitress or
    the dev server they are real threads. The pool is big enough for one request's MAX_CALLS
    calls at once; its threads start only when needed and each keeps one keep-alive connection.
    """

    def __init__(self, url):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path
        self.pool = ThreadPoolExecutor(contract.MAX_CALLS, thread_name_prefix="downstream")
        self.local = threading.local()

    def call(self, calls, ms):
        """Makes the calls concurrently; returns None when all answered 200, else a message."""
        path = f"{self.path}/sleep?ms={ms}"
        futures = [self.pool.submit(self._get, path) for _ in range(calls)]
        # Every call completes before the answer, failed or not.
        first_problem = None
        for future in futures:
            try:
                problem = contract.downstream_problem(future.result())
            except (OSError, http.client.HTTPException) as e:
                problem = f"downstream call failed: {e!r}"
            first_problem = first_problem or problem
        return first_problem

    def _get(self, path):
        """GET `path` on this thread's connection; returns the status."""
        conn = getattr(self.local, "conn", None)
        reused = conn is not None
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()  # the whole body, so the connection can carry the next call
            return response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            if reused:  # the server may have closed it while idle: one retry on a fresh one
                return self._get(path)
            raise


_downstream = None
_downstream_lock = threading.Lock()


def downstream():
    # Made on first use, in the worker process: after any fork, and after gevent's
    # monkey-patching even when that comes after this module was imported
    # (uwsgi --gevent-monkey-patch), so the pool's queue, locks and thread-locals are gevent's.
    global _downstream
    with _downstream_lock:
        if _downstream is None:
            _downstream = _Downstream(contract.DOWNSTREAM_URL)
    return _downstream


@app.get("/io")
def io():
    calls, ms, problem = contract.io_params(query())
    if problem:
        return json_response(contract.error(problem), 400)
    if contract.DOWNSTREAM_URL is None:
        return json_response(contract.error(contract.NO_DOWNSTREAM_ERROR), 500)
    problem = downstream().call(calls, ms)
    if problem:
        return json_response(contract.error(problem), 502)
    return json_response(contract.io_result(calls, ms))
