#!/usr/bin/env python3
"""A minimal DAP client that plays the editor: it starts elixir-dap, launches
a copy of the bundled example project (examples/shop), stops at a breakpoint,
looks at the variables, then edits and saves a module while the shop runs and
shows the reload arrive without a restart. Prints what a user would see in the
debug console, then disconnects. Standard library only."""

import argparse
import json
import os
import queue
import shutil
import tempfile
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default=os.path.join(ROOT, "target/release/elixir-dap"))
    parser.add_argument("--project", default=os.path.join(ROOT, "examples/shop"),
                        help="copied to a temporary directory first, so the demo's edit stays there")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to let the app run")
    parser.add_argument("--broken-edit", action="store_true",
                        help="save an edit that does not compile (the demo must then fail, saying why)")
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

    workdir = tempfile.mkdtemp(prefix="elixir-dap-demo-")
    project = os.path.join(workdir, "shop")
    shutil.copytree(args.project, project, ignore=shutil.ignore_patterns("_build", "deps"))
    pricing = os.path.join(project, "lib/shop/pricing.ex")

    response(send("initialize", {"adapterID": "elixir", "clientID": "demo"}), 10, "initialize")
    started = time.time()
    response(send("launch", {"projectDir": project, "taskArgs": ["--no-halt"]}), 300, "launch")
    source = open(pricing).read()
    line = source.splitlines().index("    subtotal = items |> Enum.map(&price/1) |> Enum.sum()") + 1
    response(send("setBreakpoints", {"source": {"path": pricing}, "breakpoints": [{"line": line}]}), 30, "setBreakpoints")
    response(send("configurationDone"), 60, "configurationDone")
    stopped = until(lambda m: m.get("event") == "stopped", 60, "a stop at the breakpoint")
    print("demo: stopped at the breakpoint %.0f ms after launch" % ((time.time() - started) * 1000))
    thread = stopped["body"]["threadId"]
    frames = response(send("stackTrace", {"threadId": thread}), 10, "stackTrace")["body"]["stackFrames"]
    scopes = response(send("scopes", {"frameId": frames[0]["id"]}), 10, "scopes")["body"]["scopes"]
    variables = response(send("variables", {"variablesReference": scopes[0]["variablesReference"]}), 10, "variables")
    print("demo: %s line %s, variables: %s" % (frames[0]["name"], frames[0]["line"], ", ".join(
        "%s = %s" % (v["name"], v["value"]) for v in variables["body"]["variables"])))
    response(send("setBreakpoints", {"source": {"path": pricing}, "breakpoints": []}), 10, "setBreakpoints")
    response(send("continue", {"threadId": thread}), 10, "continue")

    # Edit and save while the shop runs: a bigger discount. The session reloads
    # the module by itself (reloadOnSave defaults to "auto"); the cart keeps its items.
    print("demo: saving lib/shop/pricing.ex: 50% off from 1 000 instead of 10% from 2 000")
    edit = "subtotal > 1_000, do: div(subtotal, 2" + ("" if args.broken_edit else ")")
    with open(pricing, "w") as f:
        f.write(source.replace("subtotal > 2_000, do: div(subtotal, 10)", edit))
    reloaded = until(lambda m: m.get("event") == "codeReloaded", 30, "the reload of the saved file")
    if not reloaded["body"].get("success") or not reloaded["body"].get("reloaded"):
        sys.exit("demo: the reload failed: %s\n%s" % (
            reloaded["body"].get("message"), json.dumps(reloaded["body"], indent=2)))
    print("demo: reloaded %s in %.0f ms without restarting" % (
        ", ".join(m["module"] for m in reloaded["body"]["reloaded"]), reloaded["body"]["timings"]["total"]))
    # The new code is the code that runs: 50% off 1 500 now (0 before the edit).
    result = response(send("evaluate", {"expression": "Shop.Pricing.discount(1_500)", "context": "repl"}),
                      30, "evaluate")["body"]["result"]
    if result != "750":
        sys.exit("demo: after the reload Shop.Pricing.discount(1_500) is %s, not 750: the old code still runs" % result)
    print("demo: Shop.Pricing.discount(1_500) is now %s" % result)
    until(never, args.seconds, "")
    shutil.rmtree(workdir, ignore_errors=True)
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
