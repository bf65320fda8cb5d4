"""JSON schemas for registered tools, read from their source with Python's own ast (the
code is parsed, never run), and the wrapper that calls a tool with JSON arguments.

schemas({name: source}) -> {name: {"description", "schema"}}: each tool's parameters as a
JSON Schema object from its signature, type hints and literal defaults.
call(function, args_json) -> one JSON line: {"ok", "result" | "error", "printed"}.
"""
import ast
import contextlib
import inspect
import io
import json

_SIMPLE = {
    "int": {"type": "integer"}, "float": {"type": "number"}, "complex": {},
    "str": {"type": "string"}, "bytes": {"type": "string"}, "bool": {"type": "boolean"},
    "list": {"type": "array"}, "tuple": {"type": "array"}, "set": {"type": "array"},
    "frozenset": {"type": "array"}, "dict": {"type": "object"}, "None": {"type": "null"},
    "NoneType": {"type": "null"}, "Any": {}, "object": {},
}
_SEQUENCES = {"list", "List", "Sequence", "Iterable", "set", "Set", "frozenset", "FrozenSet", "tuple", "Tuple"}
_MAPPINGS = {"dict", "Dict", "Mapping"}


def _name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.List, t.Optional
        return node.attr
    return None


def _union(nodes):
    parts = [_annotation(n) for n in nodes]
    if any(p == {} for p in parts):  # one member takes anything: so does the union
        return {}
    if all(set(p) == {"type"} for p in parts):
        types = []
        for p in parts:
            for t in p["type"] if isinstance(p["type"], list) else [p["type"]]:
                if t not in types:
                    types.append(t)
        return {"type": types[0] if len(types) == 1 else types}
    return {"anyOf": parts}


def _annotation(node):
    """The JSON schema a type hint asks for; {} (anything) for what it cannot tell."""
    if node is None:
        return {}
    if isinstance(node, ast.Constant):
        if node.value is None:
            return {"type": "null"}
        if isinstance(node.value, str):  # a string annotation: "list[int]"
            try:
                return _annotation(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return {}
        return {}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # int | None
        return _union([node.left, node.right])
    if isinstance(node, ast.Subscript):
        base = _name(node.value)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base in _SEQUENCES:
            s = {"type": "array"}
            if base not in ("tuple", "Tuple") or (len(args) == 2 and isinstance(args[1], ast.Constant)
                                                  and args[1].value is Ellipsis):
                items = _annotation(args[0])
                if items:
                    s["items"] = items
            return s
        if base in _MAPPINGS:
            s = {"type": "object"}
            if len(args) == 2:
                values = _annotation(args[1])
                if values:
                    s["additionalProperties"] = values
            return s
        if base == "Optional":
            return _union([args[0], ast.Constant(None)])
        if base == "Union":
            return _union(args)
        if base == "Literal":
            values = [a.value for a in args if isinstance(a, ast.Constant)]
            return {"enum": values} if len(values) == len(args) else {}
        if base == "Annotated":
            return _annotation(args[0])
        return {}
    return dict(_SIMPLE.get(_name(node), {}))


def _schema(fn):
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    props, required = {}, []
    for arg, default in list(zip(positional, defaults)) + list(zip(a.kwonlyargs, a.kw_defaults)):
        s = _annotation(arg.annotation)
        if default is None:
            required.append(arg.arg)
        else:
            try:
                value = ast.literal_eval(default)
                json.dumps(value)
                s["default"] = value
            except Exception:  # not a literal, or not JSON: the schema just says it is optional
                pass
        props[arg.arg] = s
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    if a.kwarg is None:
        schema["additionalProperties"] = False
    return schema


def schemas(sources):
    out = {}
    for name, source in sources.items():
        try:
            tree = ast.parse(source, "<tool>", "exec")
        except SyntaxError:
            continue
        fns = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
        if not fns:
            continue
        fn = fns[-1]  # the last definition is the one the module keeps
        doc = (ast.get_docstring(fn) or "").strip().split("\n\n")[0]
        out[name] = {"description": " ".join(doc.split()), "schema": _schema(fn)}
    return out


def call(fn, args_json):
    args = json.loads(args_json)
    printed = io.StringIO()
    try:
        positional = []
        try:
            for p in inspect.signature(fn).parameters.values():
                if p.kind == p.POSITIONAL_ONLY and p.name in args:
                    positional.append(args.pop(p.name))
        except (TypeError, ValueError):
            pass
        with contextlib.redirect_stdout(printed):
            result = fn(*positional, **args)
        try:
            text = json.dumps({"ok": True, "result": result, "printed": printed.getvalue()})
        except (TypeError, ValueError):
            text = json.dumps({"ok": True, "result": repr(result), "printed": printed.getvalue()})
    except Exception as e:
        text = json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e), "printed": printed.getvalue()})
    print("\n" + text)
