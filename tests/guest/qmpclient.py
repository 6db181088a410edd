# SPDX-License-Identifier: MIT
"""A QMP client for tests/guest/qmp.test, with Python's standard library only.

    python3 -S qmpclient.py SOCKET main PID CONSOLE DISK
    python3 -S qmpclient.py SOCKET shutdown REASON
    python3 -S qmpclient.py SOCKET reset
    python3 -S qmpclient.py SOCKET snapshot FILE

Every message ember sends is checked against QEMU's QMP specification
(docs/interop/qmp-spec): one JSON object a line, ending in CR LF; the
greeting; a command's success or error reply with its id echoed; events with
their timestamps. "main" runs every command, the events, the error replies
and the hostile clients against a guest that prints "tick UPTIME" once a
second on CONSOLE; "shutdown" waits for the SHUTDOWN event with REASON;
"reset" asks for system_reset; "snapshot" writes a snapshot to FILE with
migrate (file:FILE) and quits. Each check prints "ok: ..." or "FAIL: ...";
the exit status is the number of failures (at most 100).
"""

import json
import os
import socket
import sys
import time

failures = 0


def ok(what):
    print("ok: " + what, flush=True)


def fail(what):
    global failures
    failures += 1
    print("FAIL: " + what, flush=True)


def check(cond, what):
    if cond:
        ok(what)
    else:
        fail(what)
    return cond


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Client:
    """One connection; events that arrive while waiting for a reply are kept."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.events = []
        self.next_id = 100

    def close(self):
        self.sock.close()

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def line(self, timeout=30):
        """The next line, parsed and checked as one JSON object; None at EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from ember in %d s" % timeout)
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        raw, self.buf = self.buf.split(b"\n", 1)
        if not raw.endswith(b"\r"):
            fail("a message not ending in CR LF: %r" % raw[:200])
        msg = json.loads(raw.decode("utf-8"))
        if not isinstance(msg, dict):
            fail("a message that is not a JSON object: %r" % raw[:200])
        return msg

    def message(self, timeout=30):
        """The next message; an event is checked against the spec on its way."""
        msg = self.line(timeout)
        if msg is not None and "event" in msg:
            check_event(msg)
        return msg

    def reply(self, id_, timeout=30):
        """The reply with this id; events before it are kept in self.events."""
        while True:
            msg = self.message(timeout)
            if msg is None:
                raise EOFError("ember closed the connection")
            if "event" in msg:
                self.events.append(msg)
                continue
            if "return" not in msg and "error" not in msg:
                fail("a message that is no reply, event or greeting: %r" % msg)
                continue
            if msg.get("id") != id_:
                fail("a reply with id %r where %r was asked for" % (msg.get("id"), id_))
            check_reply(msg)
            return msg

    def execute(self, name, arguments=None, id_=None):
        if id_ is None:
            self.next_id += 1
            id_ = self.next_id
        req = {"execute": name, "id": id_}
        if arguments is not None:
            req["arguments"] = arguments
        self.send(json.dumps(req) + "\n")
        return self.reply(id_)

    def ret(self, name, arguments=None):
        """A command that must succeed: its return value."""
        r = self.execute(name, arguments)
        if "error" in r:
            fail("%s: %s" % (name, r["error"]))
            return None
        return r["return"]

    def event(self, name, timeout=30):
        """The next event called name (earlier ones kept ones first)."""
        for i, e in enumerate(self.events):
            if e["event"] == name:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.message(max(deadline - time.monotonic(), 0.1))
            if msg is None:
                return None
            if msg.get("event") == name:
                return msg
            self.events.append(msg)
        return None

    def negotiate(self):
        greeting = self.message()
        check_greeting(greeting)
        r = self.execute("qmp_capabilities")
        check(r.get("return") == {}, "qmp_capabilities returns {}")


def check_greeting(g):
    q = g.get("QMP") if isinstance(g, dict) else None
    v = q.get("version") if isinstance(q, dict) else None
    qemu = v.get("qemu") if isinstance(v, dict) else None
    good = (isinstance(qemu, dict) and all(is_int(qemu.get(k)) for k in ("major", "minor", "micro"))
            and isinstance(v.get("package"), str) and isinstance(q.get("capabilities"), list))
    check(good, "the greeting is QMP's: %r" % g)


def check_reply(r):
    if "error" in r:
        e = r["error"]
        if not (isinstance(e, dict) and isinstance(e.get("class"), str)
                and isinstance(e.get("desc"), str)):
            fail("an error reply without class and desc: %r" % r)
    if set(r) - {"return", "error", "id"}:
        fail("a reply with other members: %r" % r)


def check_event(e):
    ts = e.get("timestamp")
    good = (isinstance(e.get("event"), str) and isinstance(ts, dict) and is_int(ts.get("seconds"))
            and is_int(ts.get("microseconds")) and 0 <= ts["microseconds"] < 1000000
            and ("data" not in e or isinstance(e["data"], dict)))
    if not good:
        fail("an event unlike QMP's: %r" % e)
    elif abs(ts["seconds"] - time.time()) > 60:
        fail("an event timestamped %d, now is %d" % (ts["seconds"], time.time()))


def expect_error(c, request, cls, what, desc_has=None):
    """Sends request (text); one error reply of class cls must come back."""
    c.send(request)
    msg = c.message()
    while msg is not None and "event" in msg:
        c.events.append(msg)
        msg = c.message()
    good = msg is not None and msg.get("error", {}).get("class") == cls
    if good and desc_has:
        good = desc_has in msg["error"].get("desc", "")
    check(good, "%s: %s error (%r)" % (what, cls, msg))


def ticks(console):
    """The guest's uptimes so far, from its console."""
    out = []
    try:
        with open(console, "rb") as f:
            for raw in f:
                parts = raw.decode("ascii", "replace").split()
                if len(parts) == 2 and parts[0] == "tick":
                    try:
                        out.append(float(parts[1]))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def wait_ticks(console, more_than, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(ticks(console)) > more_than:
            return True
        time.sleep(0.2)
    return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main_scenario(path, pid, console, disk):
    c = Client(path)
    greeting = c.message()
    check_greeting(greeting)
    # Nothing before negotiation; the id comes back whatever it is.
    r = c.execute("query-status", id_={"a": [1, "two"]})
    check(r.get("error", {}).get("class") == "CommandNotFound",
          "a command before negotiation: CommandNotFound (%r)" % r)
    r = c.execute("qmp_capabilities", {"enable": ["oob"]})
    check(r.get("error", {}).get("class") == "GenericError", "capability oob refused (%r)" % r)
    check(c.execute("qmp_capabilities").get("return") == {}, "qmp_capabilities returns {}")
    r = c.execute("qmp_capabilities")
    check(r.get("error", {}).get("class") == "CommandNotFound", "negotiation only once (%r)" % r)

    # --- queries ---
    names = {x.get("name") for x in c.ret("query-commands") or []}
    want = {"qmp_capabilities", "query-version", "query-commands", "query-status", "query-name",
            "query-kvm", "query-cpus-fast", "query-block", "query-chardev", "stop", "cont",
            "system_powerdown", "system_reset", "quit"}
    check(want <= names, "query-commands lists every command (%s)" % sorted(names))
    v = c.ret("query-version") or {}
    check(all(is_int(v.get("qemu", {}).get(k)) for k in ("major", "minor", "micro"))
          and "ember" in v.get("package", ""), "query-version: %r" % v)
    s = c.ret("query-status") or {}
    check(s.get("status") == "running" and s.get("running") is True, "query-status: %r" % s)
    check((c.ret("query-name") or {}).get("name") == "qmp-guest", "query-name gives -name")
    k = c.ret("query-kvm") or {}
    check(k.get("enabled") is True and k.get("present") is True, "query-kvm: %r" % k)
    cpus = c.ret("query-cpus-fast") or []
    tasks = {int(t) for t in os.listdir("/proc/%d/task" % pid)}
    check(len(cpus) == 2 and [x.get("cpu-index") for x in cpus] == [0, 1]
          and all(x.get("thread-id") in tasks for x in cpus)
          and [x.get("props", {}).get("socket-id") for x in cpus] == [0, 1]
          and all(x.get("target") == "x86_64" for x in cpus),
          "query-cpus-fast: two vCPUs on ember's threads, one package each (%r)" % cpus)
    blocks = c.ret("query-block") or []
    ins = blocks[0].get("inserted", {}) if len(blocks) == 1 else {}
    check(ins.get("file") == disk and ins.get("drv") == "raw" and ins.get("ro") is False
          and ins.get("image", {}).get("virtual-size") == os.path.getsize(disk),
          "query-block: the disk, its format and size (%r)" % blocks)
    labels = {x.get("label") for x in c.ret("query-chardev") or []}
    check({"compat_monitor0", "serial0"} <= labels, "query-chardev: %s" % sorted(labels))

    # --- stop and cont: the guest stops ticking, then ticks on ---
    check(wait_ticks(console, 2, 60), "the guest ticks")
    c.send(json.dumps({"execute": "stop", "id": "s"}) + "\n")
    first = c.message()
    check(first is not None and first.get("event") == "STOP", "stop: the STOP event first")
    r = c.reply("s")
    check(r.get("return") == {}, "stop returns {}")
    s = c.ret("query-status") or {}
    check(s.get("status") == "paused" and s.get("running") is False, "paused: %r" % s)
    n = len(ticks(console))
    time.sleep(4)
    check(len(ticks(console)) <= n + 1, "no ticks while paused (%d, then %d)"
          % (n, len(ticks(console))))
    check(c.execute("stop").get("return") == {}, "stop again: {} and no event")
    c.send(json.dumps({"execute": "cont", "id": "c"}) + "\n")
    first = c.message()
    check(first is not None and first.get("event") == "RESUME", "cont: the RESUME event first")
    check(c.reply("c").get("return") == {}, "cont returns {}")
    check(wait_ticks(console, n + 2, 30), "the guest ticks again after cont")
    up = ticks(console)
    check(all(b >= a for a, b in zip(up, up[1:])), "the guest's uptime never went back")
    check(not any(e["event"] == "STOP" for e in c.events), "one STOP event only")

    # --- errors: QEMU's classes, and the session goes on ---
    expect_error(c, '{"execute": "no-such-command"}\n', "CommandNotFound", "an unknown command")
    expect_error(c, '{"execute": "stop", "arguments": [1]}\n', "GenericError",
                 "arguments that are no object")
    expect_error(c, '{"execute": "query-status", "arguments": {"x": 1}}\n', "GenericError",
                 "an unexpected argument", "Parameter 'x' is unexpected")
    expect_error(c, '{"execute": 5}\n', "GenericError", "execute that is no string")
    expect_error(c, '{"id": 1}\n', "GenericError", "no execute")
    expect_error(c, "hello, ember\n", "GenericError", "a line of garbage")
    expect_error(c, '{"execute": "stop",, }\n', "GenericError", "broken JSON")
    expect_error(c, "[1, 2]\n", "GenericError", "an array")
    check(c.ret("query-status") is not None, "the session goes on after the errors")

    # --- hostile clients ---
    # One at a time: a second client waits, and hears nothing meanwhile.
    d = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    d.connect(path)
    d.settimeout(2)
    try:
        heard = d.recv(100)
    except socket.timeout:
        heard = None
    check(heard is None, "a second client waits while the first is served")
    d.close()
    # A 100 MiB line: refused, ember's memory stays where it was, the guest runs on.
    before = rss_kib(pid)
    n = len(ticks(console))
    c.send('{"execute": "query-status", "id": "')
    chunk = b"x" * (1 << 20)
    for _ in range(100):
        c.send(chunk)
    expect_error(c, '"}\n', "GenericError", "a 100 MiB request", "longer than")
    grew = rss_kib(pid) - before
    check(grew < 4096, "a 100 MiB request grew ember by %d KiB" % grew)
    check(wait_ticks(console, n, 30), "the guest ran on meanwhile")
    c.close()
    # Half a request, then gone; the next client starts afresh.
    c = Client(path)
    c.message()
    c.send('{"execute": "qmp_capabilities"}\n{"execute": "qu')
    c.close()
    c = Client(path)
    greeting = c.message()
    check_greeting(greeting)
    r = c.execute("query-status")
    check(r.get("error", {}).get("class") == "CommandNotFound",
          "a new client negotiates afresh (%r)" % r)
    c.close()
    # A client that sends nothing: the guest runs on.
    c = Client(path)
    n = len(ticks(console))
    check(wait_ticks(console, n + 1, 30), "a silent client does not stall the guest")
    c.close()
    # A client that never reads: ember takes its input no further and stays small.
    c = Client(path)
    before = rss_kib(pid)
    n = len(ticks(console))
    c.sock.setblocking(False)
    req = b'{"execute": "query-commands"}\n' * 64
    sent, stuck_since = 0, None
    while sent < (64 << 20):
        try:
            sent += c.sock.send(req)
            stuck_since = None
        except BlockingIOError:
            if stuck_since is None:
                stuck_since = time.monotonic()
            elif time.monotonic() - stuck_since > 3:
                break
            time.sleep(0.05)
    check(sent < (64 << 20), "ember stopped taking requests from a client that does not "
          "read (after %d bytes)" % sent)
    grew = rss_kib(pid) - before
    check(grew < 4096, "an unread client grew ember by %d KiB" % grew)
    check(wait_ticks(console, n, 30), "the guest ran on meanwhile")
    c.close()

    # --- power button, then quit ---
    c = Client(path)
    c.negotiate()
    check(c.ret("system_powerdown") == {}, "system_powerdown returns {}")
    check(c.event("POWERDOWN") is not None, "the POWERDOWN event")
    r = c.execute("quit")
    check(r.get("return") == {}, "quit returns {}")
    e = c.event("SHUTDOWN")
    check(e is not None and e.get("data") == {"guest": False, "reason": "host-qmp-quit"},
          "SHUTDOWN after quit: %r" % e)
    check(c.message(30) is None, "then ember closes the connection")


def shutdown_scenario(path, reason):
    c = Client(path)
    c.negotiate()
    e = c.event("SHUTDOWN", 120)
    check(e is not None and e.get("data") == {"guest": True, "reason": reason},
          "SHUTDOWN when the guest %s: %r" % (reason, e))


def reset_scenario(path):
    c = Client(path)
    c.negotiate()
    check(c.ret("system_reset") == {}, "system_reset returns {}")
    e = c.event("SHUTDOWN")
    check(e is not None and e.get("data") == {"guest": False, "reason": "host-qmp-system-reset"},
          "SHUTDOWN after system_reset (ember ends, as QEMU with -no-reboot): %r" % e)


def snapshot_scenario(path, file):
    c = Client(path)
    c.negotiate()
    check(c.ret("query-migrate") == {}, "query-migrate before any migration: {}")
    check(c.ret("stop") == {}, "stop")
    e = c.event("STOP")
    check(e is not None, "STOP")
    r = c.ret("migrate", {"uri": "file:" + file})
    check(r == {}, "migrate to file:%s returns {}" % file)
    m = c.ret("query-migrate")
    ram = m.get("ram", {}) if isinstance(m, dict) else {}
    check(m.get("status") == "completed" and is_int(m.get("total-time"))
          and is_int(ram.get("transferred")) and 0 < ram["transferred"] <= ram.get("total", 0),
          "query-migrate: completed, with its RAM figures: %r" % m)
    check(os.path.getsize(file) > ram.get("total", 0),
          "the file is as long as guest RAM (its holes included)")
    st = c.ret("query-status")
    check(st == {"status": "postmigrate", "singlestep": False, "running": False},
          "query-status after it: postmigrate, as QEMU says: %r" % st)
    expect_error(c, '{"execute": "migrate", "arguments": {"uri": "file:%s"}}\n' % file,
                 "GenericError", "a second migrate to the same file", "exists")
    expect_error(c, '{"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1:4444"}}\n',
                 "GenericError", "migrate to tcp:", "file")
    check(c.ret("quit") == {}, "quit")
    e = c.event("SHUTDOWN")
    check(e is not None and e.get("data") == {"guest": False, "reason": "host-qmp-quit"},
          "SHUTDOWN after quit: %r" % e)


def main():
    path, what = sys.argv[1], sys.argv[2]
    try:
        if what == "main":
            main_scenario(path, int(sys.argv[3]), sys.argv[4], sys.argv[5])
        elif what == "shutdown":
            shutdown_scenario(path, sys.argv[3])
        elif what == "reset":
            reset_scenario(path)
        elif what == "snapshot":
            snapshot_scenario(path, sys.argv[3])
        else:
            fail("no scenario %r" % what)
    except (OSError, EOFError, TimeoutError, ValueError) as err:
        fail("%s: %s: %s" % (what, type(err).__name__, err))
    sys.exit(min(failures, 100))


main()
