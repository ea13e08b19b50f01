"""`GET /io` for the asyncio apps (FastAPI, Quart, tornado): concurrent calls with aiohttp.

Not httpx: its connection pool slows down with the number of requests in flight (1000
concurrent 100 ms calls to hello-rs take 20-30 s with httpx 0.28.1, 0.2-0.4 s with aiohttp).
"""

import asyncio

import aiohttp

import contract


def client():
    """One session per process, opened when the server starts (lifespan) and closed when it
    stops; use it as `async with client() as http`.

    No connection limit (aiohttp's default of 100 would queue calls), so one request's calls
    all run at once, each finished connection is kept alive for the next. No timeout: a
    downstream `/sleep` may take minutes, and the load generator's own timeout bounds a request.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def _get(http, url):
    async with http.get(url) as response:
        await response.read()  # the whole body, so the connection can carry the next call
        return response.status


async def call(http, calls, ms):
    """Makes the calls concurrently; returns None when all answered 200, else a message."""
    url = f"{contract.DOWNSTREAM_URL}/sleep?ms={ms}"
    # return_exceptions: every call completes before the answer, failed or not.
    results = await asyncio.gather(*(_get(http, url) for _ in range(calls)),
                                   return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            return f"downstream call failed: {result!r}"
        problem = contract.downstream_problem(result)
        if problem:
            return problem
    return None
