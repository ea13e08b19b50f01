"""tornado app: the endpoint contract of servers/README.md, with tornado's own HTTP server.

    servers/python/.venv/bin/python servers/python/tornado_app.py --port 8080 [--host ADDR]

One process, one event loop; it exits on SIGTERM (the default action: nothing to flush).
"""

import argparse
import asyncio

import tornado.web

import aio_downstream
import contract


class Handler(tornado.web.RequestHandler):
    """JSON errors like hello-rs. Methods a handler does not define answer 405."""

    def write_error(self, status_code, **kwargs):
        messages = {404: contract.NOT_FOUND, 405: contract.METHOD_NOT_ALLOWED}
        self.json(contract.error(messages.get(status_code, self._reason)), status_code)

    def answer(self, body, content_type, status=200):
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)

    def text(self, body):
        self.answer(body, contract.TEXT)

    def json(self, body, status=200):
        self.answer(body, contract.JSON, status)

    def query(self):
        # The raw query string, parsed like hello-rs does; get_argument would decode it first.
        return self.request.query


class NotFound(Handler):
    def prepare(self):
        raise tornado.web.HTTPError(404)


class Health(Handler):
    def get(self):
        self.text("ok")


class Hello(Handler):
    def get(self):
        self.text("Hello World!")


class Sleep(Handler):
    async def get(self):
        ms = contract.param(self.query(), "ms", 0, contract.MAX_SLEEP_MS)
        if ms is None:
            return self.json(contract.error(contract.SLEEP_ERROR), 400)
        await asyncio.sleep(ms / 1000)
        self.text(f"slept {ms} ms")


class Items(Handler):
    async def post(self, kind):
        ms = contract.param(self.query(), "ms", 0, contract.MAX_SLEEP_MS)
        if ms is None:
            return self.json(contract.error(contract.SLEEP_ERROR), 400)
        try:
            value = contract.parse_json(self.request.body)
        except ValueError as e:
            return self.json(contract.error(f"invalid JSON: {e}"), 400)
        await asyncio.sleep(ms / 1000)
        self.json(contract.dumps(value))


class Cpu(Handler):
    def get(self):
        n = contract.param(self.query(), "n", 1000)
        if n is None:
            return self.json(contract.error(contract.CPU_ERROR), 400)
        self.text(str(contract.cpu_work(n)))


class Bytes(Handler):
    def get(self):
        n = contract.param(self.query(), "n", 1024, contract.MAX_BYTES)
        if n is None:
            return self.json(contract.error(contract.BYTES_ERROR), 400)
        self.answer(b"x" * n, contract.OCTETS)


class Io(Handler):
    def initialize(self, http):
        self.http = http

    async def get(self):
        calls, ms, problem = contract.io_params(self.query())
        if problem:
            return self.json(contract.error(problem), 400)
        if contract.DOWNSTREAM_URL is None:
            return self.json(contract.error(contract.NO_DOWNSTREAM_ERROR), 500)
        problem = await aio_downstream.call(self.http, calls, ms)
        if problem:
            return self.json(contract.error(problem), 502)
        self.json(contract.io_result(calls, ms))


def make_app(http):
    return tornado.web.Application(
        [
            (r"/health", Health),
            (r"/hello", Hello),
            (r"/sleep", Sleep),
            (r"/items/([^/]+)", Items),
            (r"/cpu", Cpu),
            (r"/bytes", Bytes),
            (r"/io", Io, {"http": http}),
        ],
        default_handler_class=NotFound,
    )


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    async with aio_downstream.client() as http:
        make_app(http).listen(args.port, address=args.host)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
