#!/usr/bin/env python3
"""A minimal DAP client that plays the editor: it starts elixir-dap, launches
the bundled example project (examples/shop) and prints what a user would see
in the debug console, then disconnects. Standard library only."""

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default=os.path.join(ROOT, "target/release/elixir-dap"))
    parser.add_argument("--project", default=os.path.join(ROOT, "examples/shop"))
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to let the app run")
    args = parser.parse_args()

    adapter = subprocess.Popen([args.adapter], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    messages = queue.Queue()
    threading.Thread(target=read_messages, args=(adapter.stdout, messages), daemon=True).start()
    seq = 0

    def send(command, arguments=None):
        nonlocal seq
        seq += 1
        body = json.dumps({"seq": seq, "type": "request", "command": command, "arguments": arguments or {}})
        adapter.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body.encode()))
        adapter.stdin.flush()
        return seq

    def until(predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                message = messages.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                break
            if message is None:
                sys.exit("demo: the adapter closed its output before " + what)
            show(message)
            if predicate(message):
                return message
        if timeout > 0 and predicate is not never:
            sys.exit("demo: %s did not arrive within %s s" % (what, timeout))
        return None

    def response(request_seq, timeout, what):
        message = until(lambda m: m.get("type") == "response" and m.get("request_seq") == request_seq, timeout, what)
        if not message.get("success"):
            sys.exit("demo: %s failed: %s" % (what, message.get("message")))
        return message

    response(send("initialize", {"adapterID": "elixir", "clientID": "demo"}), 10, "initialize")
    started = time.time()
    response(send("launch", {"projectDir": args.project, "taskArgs": ["--no-halt"]}), 300, "launch")
    response(send("configurationDone"), 10, "configurationDone")
    until(lambda m: m.get("event") == "output" and "shop: added" in m["body"]["output"], 60, "the app's first output")
    print("demo: first output %.0f ms after launch" % ((time.time() - started) * 1000))
    until(never, args.seconds, "")
    response(send("disconnect", {"terminateDebuggee": True}), 20, "disconnect")
    adapter.stdin.close()
    adapter.wait(timeout=20)
    print("demo: done; the adapter exited with status %d" % adapter.returncode)


def never(_message):
    return False


def show(message):
    if message.get("type") == "event" and message["event"] == "output":
        sys.stdout.write("[%s] %s" % (message["body"]["category"], message["body"]["output"]))
    elif message.get("type") == "event":
        print("<event %s> %s" % (message["event"], json.dumps(message.get("body", {}))))
    else:
        print("<response %s> success=%s" % (message["command"], message["success"]))


def read_messages(stream, messages):
    while True:
        length = None
        while True:
            line = stream.readline()
            if not line:
                messages.put(None)
                return
            line = line.strip()
            if not line:
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        messages.put(json.loads(stream.read(length)))


if __name__ == "__main__":
    main()
