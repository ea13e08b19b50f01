"""FastAPI (ASGI) app: the endpoint contract of servers/README.md.

Any ASGI server runs it with servers/python/ on the Python path (commands in README.md), e.g.
`uvicorn --app-dir servers/python fastapi_app:app`.
"""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException

import aio_downstream
import contract


@asynccontextmanager
async def lifespan(app):
    async with aio_downstream.client() as http:
        app.state.http = http
        yield


# No docs or OpenAPI routes and no trailing-slash redirects: anything outside the contract is 404.
app = FastAPI(
    lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False
)


def text(body, status=200):
    return Response(body, status_code=status, media_type=contract.TEXT)


def json_response(body, status=200):
    return Response(body, status_code=status, media_type=contract.JSON)


def query(request):
    # The raw query string, parsed like hello-rs does; query parameters would be decoded first.
    return request.scope["query_string"].decode("latin-1")


@app.exception_handler(HTTPException)
async def http_error(_request, exc):
    messages = {404: contract.NOT_FOUND, 405: contract.METHOD_NOT_ALLOWED}
    return json_response(contract.error(messages.get(exc.status_code, exc.detail)), exc.status_code)


@app.get("/health")
async def health():
    return text("ok")


@app.get("/hello")
async def hello():
    return text("Hello World!")


@app.get("/sleep")
async def sleep(request: Request):
    ms = contract.param(query(request), "ms", 0, contract.MAX_SLEEP_MS)
    if ms is None:
        return json_response(contract.error(contract.SLEEP_ERROR), 400)
    await asyncio.sleep(ms / 1000)
    return text(f"slept {ms} ms")


@app.post("/items/{kind}")
async def items(kind: str, request: Request):
    ms = contract.param(query(request), "ms", 0, contract.MAX_SLEEP_MS)
    if ms is None:
        return json_response(contract.error(contract.SLEEP_ERROR), 400)
    try:
        value = contract.parse_json(await request.body())
    except ValueError as e:
        return json_response(contract.error(f"invalid JSON: {e}"), 400)
    await asyncio.sleep(ms / 1000)
    return json_response(contract.dumps(value))


# CPU-bound: a plain `def` would run in the thread pool; `async def` keeps it on the event loop
# (blocking it), which is what the CPU experiments compare across servers.
@app.get("/cpu")
async def cpu(request: Request):
    n = contract.param(query(request), "n", 1000)
    if n is None:
        return json_response(contract.error(contract.CPU_ERROR), 400)
    return text(str(contract.cpu_work(n)))


@app.get("/bytes")
async def bytes_(request: Request):
    n = contract.param(query(request), "n", 1024, contract.MAX_BYTES)
    if n is None:
        return json_response(contract.error(contract.BYTES_ERROR), 400)
    return Response(b"x" * n, media_type=contract.OCTETS)


@app.get("/io")
async def io(request: Request):
    calls, ms, problem = contract.io_params(query(request))
    if problem:
        return json_response(contract.error(problem), 400)
    if contract.DOWNSTREAM_URL is None:
        return json_response(contract.error(contract.NO_DOWNSTREAM_ERROR), 500)
    problem = await aio_downstream.call(request.app.state.http, calls, ms)
    if problem:
        return json_response(contract.error(problem), 502)
    return json_response(contract.io_result(calls, ms))
