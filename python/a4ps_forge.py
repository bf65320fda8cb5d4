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


# ---- transformations the agent can ask for (source in, source out, via ast) ----------

def _one_function(tree):
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(funcs) != 1:
        raise ValueError("expected exactly one top-level function, found %d" % len(funcs))
    return funcs[0]


def promote(snippet, name, params):
    """A working snippet becomes a function: its statements the body, its last
    expression the return value."""
    tree = ast.parse(snippet, "<snippet>", "exec")
    body = tree.body or [ast.Pass()]
    if isinstance(body[-1], ast.Expr):
        body[-1] = ast.Return(value=body[-1].value)
    fn = ast.FunctionDef(name=name, args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params],
                                                       kwonlyargs=[], kw_defaults=[], defaults=[]),
                         body=body, decorator_list=[], returns=None, type_params=[])
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[]))) + "\n"


def document(source, doc, hints=None):
    """Adds (or replaces) the docstring and annotates parameters: hints maps a parameter
    name, or "return", to a type name."""
    tree = ast.parse(source, "<tool>", "exec")
    fn = _one_function(tree)
    if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) \
            and isinstance(fn.body[0].value.value, str):
        fn.body = fn.body[1:] or [ast.Pass()]
    fn.body.insert(0, ast.Expr(value=ast.Constant(value=doc)))
    for a in fn.args.args:
        if hints and a.arg in hints:
            a.annotation = ast.Name(id=hints[a.arg], ctx=ast.Load())
    if hints and "return" in hints:
        fn.returns = ast.Name(id=hints["return"], ctx=ast.Load())
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def rename(source, old, new):
    """Renames the function and its recursive calls."""
    tree = ast.parse(source, "<tool>", "exec")
    fn = _one_function(tree)
    if fn.name != old:
        raise ValueError("the function is named %r, not %r" % (fn.name, old))
    fn.name = new
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == old:
            node.id = new
    return ast.unparse(tree) + "\n"
