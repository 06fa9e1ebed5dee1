#!/usr/bin/env python3
"""Measures what issue 2 asks for on an OTP fixture: the time from sending
`launch` to the task's first output on stdout, i.e. the first `stdout` output
event containing --marker (default "otp_app: tick", the fixture's first line;
its ticker fires 50 ms after the application starts), median over N runs after
one uncounted warm-up launch, which compiles the project; and the adapter's
peak RSS (VmHWM of /proc/<pid>/status just before `disconnect`).

The project is copied to a temporary directory first, so that its `_build`
does not race with tests using the same fixture. Standard library only.

    scripts/measure_launch.py [--adapter target/release/elixir-dap]
        [--project tests/fixtures/otp_app] [--marker TEXT] [--runs 10] [--json]
"""

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Adapter:
    """One elixir-dap process spoken to over stdio."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.messages = queue.Queue()
        self.seen = []  # every message taken from the queue, in order
        self.seq = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                continue
            self.messages.put(json.loads(stream.read(length)))

    def send(self, command, arguments=None):
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments or {}}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.proc.stdin.flush()
        return self.seq

    def until(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                sys.exit("measure_launch: %s did not arrive within %s s" % (what, timeout))
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message is None:
                sys.exit("measure_launch: the adapter closed its output before %s" % what)
            self.seen.append(message)
            if predicate(message):
                return message

    def request(self, command, arguments, timeout):
        seq = self.send(command, arguments)
        response = self.until(lambda m: m.get("type") == "response" and m.get("request_seq") == seq,
                              timeout, "the response to `%s`" % command)
        if not response.get("success"):
            sys.exit("measure_launch: `%s` failed: %s" % (command, response.get("message")))
        return response

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        sys.exit("measure_launch: no VmHWM in /proc/%d/status" % self.proc.pid)

    def close(self, timeout):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            sys.exit("measure_launch: the adapter did not exit within %s s of its input closing" % timeout)


def one_run(adapter_path, project, marker, launch_timeout):
    """Returns (ms from sending launch to the first stdout event, VmHWM in KiB)."""
    adapter = Adapter(adapter_path)
    adapter.request("initialize", {"adapterID": "elixir", "clientID": "measure_launch",
                                   "linesStartAt1": True, "columnsStartAt1": True}, 30)
    started = time.monotonic()
    launch_seq = adapter.send("launch", {"type": "mix_task", "request": "launch", "name": "measure",
                                         "projectDir": project, "task": "run",
                                         "taskArgs": ["--no-halt"]})
    first_output = None
    initialized = False
    # Before the first output: the launch response, `initialized`, then
    # configurationDone, as an editor sends it.
    while first_output is None:
        message = adapter.until(lambda m: True, launch_timeout, "the first stdout output")
        kind = message.get("type")
        if kind == "response" and message.get("request_seq") == launch_seq and not message.get("success"):
            sys.exit("measure_launch: launch failed: %s" % message.get("message"))
        if kind == "event" and message.get("event") == "initialized" and not initialized:
            initialized = True
            adapter.send("configurationDone")
        if (kind == "event" and message.get("event") == "output" and message["body"].get("category") == "stdout"
                and marker in message["body"].get("output", "")):
            first_output = (time.monotonic() - started) * 1000.0
    rss = adapter.peak_rss_kib()
    adapter.request("disconnect", {"terminateDebuggee": True}, 30)
    adapter.close(30)
    return first_output, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default=os.path.join(ROOT, "target/release/elixir-dap"))
    parser.add_argument("--project", default=os.path.join(ROOT, "tests/fixtures/otp_app"))
    parser.add_argument("--marker", default="otp_app: tick", help="the program's first line of output")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="measure-launch-") as tmp:
        project = os.path.join(tmp, os.path.basename(os.path.normpath(args.project)))
        shutil.copytree(args.project, project, ignore=shutil.ignore_patterns("_build", "deps"))
        warmup, _ = one_run(args.adapter, project, args.marker, 600)
        print("warm-up launch (compiles the project): %.0f ms" % warmup, file=sys.stderr)
        times, rss = [], []
        for run in range(args.runs):
            ms, kib = one_run(args.adapter, project, args.marker, 120)
            times.append(ms)
            rss.append(kib)
            print("run %d: first output %.0f ms, VmHWM %d KiB" % (run + 1, ms, kib), file=sys.stderr)
    result = {
        "launch_to_first_output_ms": {"median": round(statistics.median(times), 1),
                                      "min": round(min(times), 1), "max": round(max(times), 1),
                                      "samples": [round(t, 1) for t in times]},
        "adapter_peak_rss_mib": {"median": round(statistics.median(rss) / 1024, 1),
                                 "max": round(max(rss) / 1024, 1)},
        "warmup_with_compile_ms": round(warmup, 1),
        "runs": args.runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("launch -> first stdout output: median %.0f ms (min %.0f, max %.0f) over %d runs"
              % (result["launch_to_first_output_ms"]["median"], min(times), max(times), args.runs))
        print("adapter peak RSS (VmHWM): median %.1f MiB, max %.1f MiB"
              % (result["adapter_peak_rss_mib"]["median"], result["adapter_peak_rss_mib"]["max"]))


if __name__ == "__main__":
    main()
