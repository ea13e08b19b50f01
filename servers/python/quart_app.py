"""Quart (ASGI) app: the endpoint contract of servers/README.md.

Any ASGI server runs it with servers/python/ on the Python path (commands in README.md), e.g.
`hypercorn servers/python/quart_app:app`.
"""

import asyncio

from quart import Quart, Response, request
from quart.routing import QuartRule

import aio_downstream
import contract


class _NoHeadRule(QuartRule):
    # werkzeug answers HEAD on every GET route; hello-rs, and so the contract, answer 405.
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.methods is not None:
            self.methods.discard("HEAD")


class _App(Quart):
    url_rule_class = _NoHeadRule


app = _App(__name__, static_folder=None)
app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # OPTIONS is a wrong method too: 405


@app.while_serving
async def downstream_session():
    async with aio_downstream.client() as http:
        app.http = http
        yield


def text(body, status=200):
    return Response(body, status=status, content_type=contract.TEXT)


def json_response(body, status=200):
    return Response(body, status=status, content_type=contract.JSON)


def query():
    # The raw query string, parsed like hello-rs does; request.args would decode it first.
    return request.query_string.decode("latin-1")


@app.errorhandler(404)
async def not_found(_error):
    return json_response(contract.error(contract.NOT_FOUND), 404)


@app.errorhandler(405)
async def method_not_allowed(_error):
    return json_response(contract.error(contract.METHOD_NOT_ALLOWED), 405)


@app.get("/health")
async def health():
    return text("ok")


@app.get("/hello")
async def hello():
    return text("Hello World!")


@app.get("/sleep")
async def sleep():
    ms = contract.param(query(), "ms", 0, contract.MAX_SLEEP_MS)
    if ms is None:
        return json_response(contract.error(contract.SLEEP_ERROR), 400)
    await asyncio.sleep(ms / 1000)
    return text(f"slept {ms} ms")


@app.post("/items/<kind>")
async def items(kind):
    ms = contract.param(query(), "ms", 0, contract.MAX_SLEEP_MS)
    if ms is None:
        return json_response(contract.error(contract.SLEEP_ERROR), 400)
    try:
        value = contract.parse_json(await request.get_data())
    except ValueError as e:
        return json_response(contract.error(f"invalid JSON: {e}"), 400)
    await asyncio.sleep(ms / 1000)
    return json_response(contract.dumps(value))


@app.get("/cpu")
async def cpu():
    n = contract.param(query(), "n", 1000)
    if n is None:
        return json_response(contract.error(contract.CPU_ERROR), 400)
    return text(str(contract.cpu_work(n)))


@app.get("/bytes")
async def bytes_():
    n = contract.param(query(), "n", 1024, contract.MAX_BYTES)
    if n is None:
        return json_response(contract.error(contract.BYTES_ERROR), 400)
    return Response(b"x" * n, content_type=contract.OCTETS)


@app.get("/io")
async def io():
    calls, ms, problem = contract.io_params(query())
    if problem:
        return json_response(contract.error(problem), 400)
    if contract.DOWNSTREAM_URL is None:
        return json_response(contract.error(contract.NO_DOWNSTREAM_ERROR), 500)
    problem = await aio_downstream.call(app.http, calls, ms)
    if problem:
        return json_response(contract.error(problem), 502)
    return json_response(contract.io_result(calls, ms))
