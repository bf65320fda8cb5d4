"""The sandbox side of A4PS: a persistent Python kernel speaking JSON lines.

Each request on stdin is one line {"code": "..."}; each answer on the protocol stream
is one line {"ok", "stdout", "stderr", "value", "error_type", "error", "traceback",
"truncated"}. Variables persist between requests, like a notebook kernel. The code runs
in this process, inside the sandbox the host started; this file trusts nothing it runs.
"""
import ast
import base64
import io
import json
import os
import shutil
import signal
import stat
import sys
import time
import traceback

LIMIT = int(os.environ.get("A4PS_OUTPUT_LIMIT", "65536"))
SANDBOXED = os.environ.get("A4PS_SANDBOXED") == "1"
SEED, WORK = "/a4ps-seed", "/work"


class Capped(io.StringIO):
    """Keeps at most LIMIT characters; notes that it dropped the rest."""

    def __init__(self):
        super().__init__()
        self.truncated = False

    def write(self, s):
        room = LIMIT - self.tell()
        if len(s) > room:
            self.truncated = True
            s = s[:max(room, 0)]
        return super().write(s)


def _install_reflection(proto):
    """a4ps_reflect: read-only questions about the image, answered by the host while the
    agent's code runs (list_tools, tool_source, codex, search_memory)."""
    import types

    mod = types.ModuleType("a4ps_reflect")

    def ask(op, **args):
        proto.write(json.dumps({"reflect": op, "args": args}) + "\n")
        reply = json.loads(sys.stdin.readline() or "{}")
        if not reply.get("ok"):
            raise LookupError(reply.get("error", "the host did not answer"))
        return reply.get("value")

    mod.list_tools = lambda: ask("list_tools")
    mod.tool_source = lambda name: ask("tool_source", name=name)
    mod.codex = lambda: ask("codex")
    mod.search_memory = lambda query, limit=5: ask("search_memory", query=query, limit=limit)
    sys.modules["a4ps_reflect"] = mod


class _Changes:
    """inotify on every folder of /work tells whether a run touched the workspace. Where
    the kernel can, it also raises SIGIO on each event (O_ASYNC), so a run that wrote
    nothing costs no system call at all; elsewhere one read that finds nothing does. Any
    event, an overflow, or a broken descriptor (agent code can close it) means: scan."""

    MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800  # modify, attrib, close_write, moves, create, delete

    def __init__(self):
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self.dirty = True
        self.signalled = False
        if self.fd >= 0:
            try:
                import fcntl
                signal.signal(signal.SIGIO, self._on_event)
                fcntl.fcntl(self.fd, fcntl.F_SETOWN, os.getpid())
                fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) | os.O_ASYNC)
                self.signalled = True
            except (OSError, ValueError):
                signal.signal(signal.SIGIO, signal.SIG_DFL)

    def _on_event(self, signum, frame):
        self.dirty = True

    def watch(self, path):
        if self.fd >= 0:
            self.libc.inotify_add_watch(self.fd, path.encode(), self.MASK)

    def any(self):
        if self.fd < 0:
            return True
        if self.signalled and not self.dirty:
            return False
        self.dirty = False  # before the read: an event after it raises SIGIO again
        seen = False
        try:
            while os.read(self.fd, 65536):
                seen = True
        except BlockingIOError:
            return seen
        except OSError:
            self.fd = -1
            return True
        return True


class Workspace:
    """/work is a size-limited tmpfs: seeded from the host folder (read-only at /a4ps-seed)
    when the kernel starts, and reported to the host after every run (the files changed
    since the last report, and those deleted), which saves them in the host folder. The
    host trusts nothing here but checks each path; this only saves it work."""

    def __init__(self, max_files):
        self.max_files = max_files
        self.seen = {}
        try:
            self.changes = _Changes()
        except OSError:
            self.changes = None

    def scan(self):
        found = {}
        for root, dirs, files in os.walk(WORK):
            if self.changes:
                self.changes.watch(root)
            for name in files:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):  # links and devices are not saved
                    found[os.path.relpath(path, WORK)] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        return found

    def seed(self):
        if os.path.isdir(SEED):
            for root, dirs, files in os.walk(SEED):
                rel = os.path.relpath(root, SEED)
                os.makedirs(os.path.join(WORK, rel), exist_ok=True)
                for name in files:
                    src = os.path.join(root, name)
                    if os.path.islink(src) or not os.path.isfile(src):
                        continue
                    try:
                        shutil.copyfile(src, os.path.join(WORK, rel, name))
                    except OSError:
                        pass  # unreadable, or past the quota: the host folder keeps it
        self.seen = self.scan()
        if self.changes:
            self.changes.any()  # the seeding itself is not a change

    def report(self):
        if self.changes and not self.changes.any():
            return {}
        found = self.scan()
        if len(found) > self.max_files:
            return {"workspace_error": "the workspace holds %d files, over its limit of %d; "
                    "this run's files were not saved (delete some)" % (len(found), self.max_files)}
        changed = {}
        for rel, sig in found.items():
            if self.seen.get(rel) != sig:
                try:
                    with open(os.path.join(WORK, rel), "rb") as f:
                        changed[rel] = base64.b64encode(f.read()).decode("ascii")
                except OSError:
                    continue
        deleted = [rel for rel in self.seen if rel not in found]
        self.seen = found
        return {"workspace": {"files": changed, "deleted": deleted}} if changed or deleted else {}


def _confine():
    """Limits that only work from inside the sandbox's own user namespace: there
    RLIMIT_NPROC counts this sandbox's processes, not every process of the user."""
    import resource
    n = int(os.environ.get("A4PS_NPROC", "0"))
    if n > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


class _Spawns:
    """Whether agent code may have started a process: an audit hook (which agent code
    cannot remove) watches for the calls that can, and for ctypes, which can do anything.
    Once seen, every later run is checked too (a kept function could start one), so a
    kernel whose code never starts processes pays no system call for the check."""
    EVENTS = {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "pty.spawn"}
    MODULES = {"_posixsubprocess", "_ctypes", "_multiprocessing"}
    seen = False

    @classmethod
    def hook(cls, event, args):
        if cls.seen:
            return
        if event in cls.EVENTS or event.startswith("ctypes.") or (event == "import" and args and args[0] in cls.MODULES):
            cls.seen = True


def _end_strays():
    """Nothing agent code started outlives its run: every other process of the sandbox
    is killed (pid 1, bubblewrap's reaper, is spared by the kernel) and reaped. kill(-1)
    fails with ESRCH when none is left, so a run that started nothing pays one call; a
    process caught in fork or exec can miss one kill, so it repeats until then."""
    if not SANDBOXED or not _Spawns.seen or os.getpid() > 2:  # never outside a pid namespace of our own
        return
    for attempt in range(40):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        except OSError:
            return
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        time.sleep(0.0005 * attempt)


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # a4ps_forge and friends
    # The protocol gets its own descriptor; fds 1 and 2 go nowhere, so that child
    # processes of agent code cannot corrupt the answers.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _install_reflection(proto)
    workspace = None
    if SANDBOXED:
        _confine()
        workspace = Workspace(int(os.environ.get("A4PS_WORKSPACE_FILES", "4096")))
        workspace.seed()
    sys.addaudithook(_Spawns.hook)  # after the runtime's own set-up (it loads ctypes for inotify)
    space = {"__name__": "__agent__"}
    for line in iter(sys.stdin.readline, ""):
        try:
            req = json.loads(line)
        except ValueError:
            continue
        out, err = Capped(), Capped()
        answer = {"ok": True, "value": None, "error_type": "", "error": "", "traceback": ""}
        sys.stdout, sys.stderr = out, err
        try:
            tree = ast.parse(req.get("code", ""), "<agent>", "exec")
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, "<agent>", "exec"), space)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<agent>", "eval"), space)
                if value is not None:
                    answer["value"] = repr(value)[:LIMIT]
        except BaseException as e:  # noqa: BLE001 - everything the agent raises is reported
            te = traceback.TracebackException.from_exception(e)
            te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != __file__])
            answer.update(ok=False, error_type=type(e).__name__, error=str(e)[:LIMIT],
                          traceback="".join(te.format())[-LIMIT:])
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        answer.update(stdout=out.getvalue(), stderr=err.getvalue(), truncated=out.truncated or err.truncated)
        if workspace is not None:
            answer.update(workspace.report())
        proto.write(json.dumps(answer) + "\n")
        # After the answer, off the caller's clock, and before the next request is read:
        # a stray that touches /work meanwhile shows up in the next run's report.
        _end_strays()


if __name__ == "__main__":
    main()
