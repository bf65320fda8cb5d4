"""The sandbox side of A4PS: a persistent Python kernel speaking JSON lines.

Each request on stdin is one line {"code": "..."}; each answer on the protocol stream
is one line {"ok", "stdout", "stderr", "value", "error_type", "error", "traceback",
"truncated"}. Variables persist between requests, like a notebook kernel. The code runs
in this process, inside the sandbox the host started; this file trusts nothing it runs.
"""
import ast
import io
import json
import os
import sys
import traceback

LIMIT = int(os.environ.get("A4PS_OUTPUT_LIMIT", "65536"))


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


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # a4ps_forge and friends
    # The protocol gets its own descriptor; fds 1 and 2 go nowhere, so that child
    # processes of agent code cannot corrupt the answers.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _install_reflection(proto)
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
        proto.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
