#!/usr/bin/env python3
"""Start-up to the first answer, timed by the process that launches the server.

The harness's poller (../shared/bench/lib/proc.py) is a Python process started beside the
server, and importing `urllib.request` alone takes it 60-90 ms on this machine: against a server
that is already up it reports 64-89 ms. A server ready sooner reads as that floor plus up to
its 10 ms polling step. This launcher has its imports behind it when it starts the clock,
starts the server itself and asks for URL every millisecond.

  startup.py [--runs N] [--cwd DIR] LABEL URL -- COMMAND...

Prints one line per launch and appends `LABEL <tab> run <tab> ms` rows to $OUTDIR/startup.tsv
when OUTDIR is set.
"""
import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit


def answered(host, port, path):
    try:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return 200 <= status < 300
    except OSError:
        return False


def port_free(host, port):
    try:
        http.client.HTTPConnection(host, port, timeout=1).connect()
        return False
    except OSError:
        return True


def launch(command, cwd, host, port, path, timeout):
    deadline = time.monotonic() + 30
    while not port_free(host, port):
        if time.monotonic() > deadline:
            sys.exit(f"port {port} is still taken")
        time.sleep(0.05)
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not answered(host, port, path):
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode} before answering")
            if time.perf_counter() - started > timeout:
                sys.exit(f"no answer within {timeout} s")
            time.sleep(0.001)
        return (time.perf_counter() - started) * 1000
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cwd", default=".")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("label")
    parser.add_argument("url")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no server command after --")
    url = urlsplit(args.url)
    times = []
    for run in range(1, args.runs + 1):
        ms = launch(command, args.cwd, url.hostname, url.port or 80, url.path or "/", args.timeout)
        times.append(ms)
        print(f"[{args.label} start-up {run}] {ms:.1f} ms", file=sys.stderr)
        if os.environ.get("OUTDIR"):
            with open(os.path.join(os.environ["OUTDIR"], "startup.tsv"), "a") as out:
                out.write(f"{args.label}\t{run}\t{ms:.1f}\n")
    print(f"{args.label}: median {statistics.median(times):.1f} ms over {len(times)} launches")


if __name__ == "__main__":
    main()
