"""Static checks for forged tools, with Python's own ast (the code is parsed, never run).

check(source, name, params) -> list of problems (empty: acceptable). A tool must be one
top-level function with the expected name and parameters, import only allowed modules,
and avoid exec/eval/compile/__import__, dunder attribute access and oversized source.
"""
import ast

ALLOWED_IMPORTS = {
    "math", "statistics", "json", "re", "datetime", "collections", "itertools", "functools",
    "string", "decimal", "fractions", "random", "textwrap", "heapq", "bisect", "typing", "dataclasses",
}
FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "open", "input", "breakpoint", "globals", "locals", "vars"}
MAX_SOURCE = 20000
MAX_NODES = 4000


def check(source, name, params):
    if len(source) > MAX_SOURCE:
        return ["the source is %d characters; the limit is %d" % (len(source), MAX_SOURCE)]
    try:
        tree = ast.parse(source, "<tool>", "exec")
    except SyntaxError as e:
        return ["syntax error at line %s, column %s: %s" % (e.lineno, e.offset, e.msg)]
    problems = []
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        problems.append("the tool is too large (more than %d syntax nodes)" % MAX_NODES)
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    others = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))
              and not (isinstance(n, ast.Expr) and isinstance(getattr(n, "value", None), ast.Constant))]
    if len(funcs) != 1:
        problems.append("expected exactly one top-level function, found %d" % len(funcs))
    elif funcs[0].name != name:
        problems.append("the function is named %r, expected %r" % (funcs[0].name, name))
    else:
        got = [a.arg for a in funcs[0].args.args]
        if params is not None and got != list(params):
            problems.append("the parameters are %s, expected %s" % (got, list(params)))
    if others:
        problems.append("only imports and the function may be at top level (line %d)" % others[0].lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] not in ALLOWED_IMPORTS:
                    problems.append("import of %r is not allowed (line %d)" % (a.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] not in ALLOWED_IMPORTS:
                problems.append("import from %r is not allowed (line %d)" % (node.module, node.lineno))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            problems.append("call to %s() is not allowed (line %d)" % (node.func.id, node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr.endswith("__"):
            problems.append("dunder attribute access .%s is not allowed (line %d)" % (node.attr, node.lineno))
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "__loader__", "__spec__"):
            problems.append("access to %s is not allowed (line %d)" % (node.id, node.lineno))
    return problems


def call_site(source, missing):
    """The first call of the undefined name in source: its argument count, keyword names
    and literal values, as a spec for forging it (doesNotUnderstand)."""
    tree = ast.parse(source, "<agent>", "exec")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == missing:
            def lit(n):
                try:
                    return ast.literal_eval(n)
                except Exception:
                    return None
            return {"name": missing, "args": len(node.args), "keywords": [k.arg for k in node.keywords],
                    "literals": [lit(a) for a in node.args], "line": node.lineno}
    return None
