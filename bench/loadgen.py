#!/usr/bin/env python3
"""benchrig's load generator against wrk, side by side in one run (`make bench-loadgen`).

The Rust hello server runs pinned to CPU 0; wrk and `benchrig load` run pinned to CPU 1, one
after the other, PAIRS times, at the same concurrency for the same duration with keep-alive.
Client CPU per request is user+sys time of the client process over the requests it completed.
Ratios come from the same run on the same machine: absolute numbers on a shared machine mean
little, ratios do. Also measured: the cost of writing raw/requests.csv, the reqwest path, and
benchrig's memory after 100k and 10M requests.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHRIG = os.path.join(ROOT, "target/release/benchrig")
HELLO = os.path.join(ROOT, "target/release/hello-rs")
PAIRS = int(os.environ.get("PAIRS", "3"))
SECONDS = int(os.environ.get("SECONDS_EACH", "10"))
CONNECTIONS = 50
SERVER_CPU, CLIENT_CPU = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(argv):
    """Runs argv pinned to the client CPU; returns (stdout+stderr, user+sys s, max RSS KiB)."""
    fd, path = tempfile.mkstemp()
    os.close(fd)
    command = ["/usr/bin/time", "-o", path, "-f", "%U %S %M", "taskset", "-c", CLIENT_CPU] + argv
    out = subprocess.run(command, capture_output=True, text=True)
    with open(path) as f:
        user, system, rss = f.read().split()[-3:]
    os.unlink(path)
    if out.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout + out.stderr, float(user) + float(system), int(rss)


def run_wrk(url):
    text, cpu, _ = timed(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", url])
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    return rps, cpu / requests * 1e6


def run_benchrig(url, raw=True, extra=()):
    args = [BENCHRIG, "load", url, "-c", str(CONNECTIONS), "-d", f"{SECONDS}s", *extra]
    out_dir = tempfile.mkdtemp() if raw else None
    if raw:
        args += ["--out", os.path.join(out_dir, "load")]
    text, cpu, _ = timed(args)
    if out_dir:
        shutil.rmtree(out_dir)
    requests = int(re.search(r"requests\s+([\d,]+)", text).group(1).replace(",", ""))
    rps = float(re.search(r"rate\s+([\d,.]+) requests/s", text).group(1).replace(",", ""))
    return rps, cpu / requests * 1e6


def rss_after(url, n):
    out_dir = tempfile.mkdtemp()
    _, _, rss = timed([BENCHRIG, "load", url, "-c", str(CONNECTIONS), "-n", str(n),
                       "--out", os.path.join(out_dir, "load")])
    shutil.rmtree(out_dir)
    return rss / 1024


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: `apt-get install -y wrk` (make bench-loadgen does it)")
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", SERVER_CPU, HELLO, "--port", str(port), "--threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/hello"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print(f"# Load generator: benchrig vs wrk ({time.strftime('%Y-%m-%d')})\n")
        print(f"Machine: {os.cpu_count()} × {cpu_model}, Linux {os.uname().release}; "
              f"server `hello-rs --threads 1` on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}; "
              f"GET /hello, {CONNECTIONS} connections, keep-alive, {SECONDS} s per run; "
              f"benchrig writes raw/requests.csv (`--out`), as `benchrig run` always does.\n")
        print("| pair | wrk req/s | benchrig req/s | benchrig / wrk | wrk µs CPU/req | benchrig µs CPU/req | benchrig / wrk |")
        print("|--:|--:|--:|--:|--:|--:|--:|")
        rps_ratios, cpu_ratios = [], []
        for pair in range(1, PAIRS + 1):
            wrk_rps, wrk_cpu = run_wrk(url)
            b_rps, b_cpu = run_benchrig(url)
            rps_ratios.append(b_rps / wrk_rps)
            cpu_ratios.append(b_cpu / wrk_cpu)
            print(f"| {pair} | {wrk_rps:,.0f} | {b_rps:,.0f} | {b_rps / wrk_rps:.2f} | "
                  f"{wrk_cpu:.2f} | {b_cpu:.2f} | {b_cpu / wrk_cpu:.2f} |", flush=True)
        rps_ratio, cpu_ratio = statistics.median(rps_ratios), statistics.median(cpu_ratios)
        print(f"| **median** | | | **{rps_ratio:.2f}** | | | **{cpu_ratio:.2f}** |\n")
        print(f"Targets: requests/s ≥ 0.95× wrk: **{'met' if rps_ratio >= 0.95 else 'not met'}**; "
              f"client CPU per request ≤ 1.2× wrk: **{'met' if cpu_ratio <= 1.2 else 'not met'}**.\n")

        no_raw = run_benchrig(url, raw=False)
        with_raw = run_benchrig(url)
        reqwest = run_benchrig(url, extra=["--reqwest"])
        print("| benchrig | req/s | µs CPU/req |")
        print("|:--|--:|--:|")
        print(f"| lean HTTP/1.1 client, raw CSV written | {with_raw[0]:,.0f} | {with_raw[1]:.2f} |")
        print(f"| lean HTTP/1.1 client, no raw CSV | {no_raw[0]:,.0f} | {no_raw[1]:.2f} |")
        print(f"| reqwest client, raw CSV written (`--reqwest`) | {reqwest[0]:,.0f} | {reqwest[1]:.2f} |\n")

        small, large = rss_after(url, 100_000), rss_after(url, 10_000_000)
        print(f"Memory (max RSS of benchrig, raw CSV written): {small:.1f} MB after 100k requests, "
              f"{large:.1f} MB after 10M: {large - small:+.1f} MB "
              f"(target within 10 MB: **{'met' if abs(large - small) <= 10 else 'not met'}**).")
    finally:
        os.killpg(server.pid, 15)
        server.wait()


if __name__ == "__main__":
    main()
