"""The typed check of a chapter's papermill parameters, run before any work is done.

A chapter declares its parameters in one cell, each with a type, a default and a comment:

    epochs: int = 300  # passes over the training images

Top-level annotated assignments record their types in the namespace's `__annotations__`
(PEP 526), in a Jupyter kernel as in a module. papermill injects a later cell that reassigns
some names without annotations, so the declared types survive but the values' types do not:
`-p resume false` arrives as the string "false" (papermill only turns "True" and "False" into
booleans), `-p g_hidden 512` as an int, `-p epochs 0.5` as a float, and `-r` passes every
value as a string. `check_params` converts each value to its declared type, checks it against
the chapter's bounds and choices, and reports every bad parameter in one message, so that a
typo stops the chapter at once instead of deep inside training.

In the cell after the parameters cell:

    globals().update(ganlib.check_params(globals(), minimum={"epochs": 1}))

Types: bool ("true"/"false", "yes"/"no", "on"/"off", 1/0), int (3.0 and "3" are fine; 0.5,
"abc" and True are not), float (finite), str, and tuple (of whole numbers: "256,512", 512
and [256, 512] all give a tuple). Other annotations are left alone.

A misspelt name is caught too. papermill injects any name it is given and only logs "Passed
unknown parameter", so `-p out_dirr /tmp/x` would run the whole chapter into the default
folder. In an IPython kernel (papermill's and nbval's) the sources of the executed cells are
in the namespace as `In`; `injected_names` finds papermill's injected cell there (it starts
with the line `# Parameters`, then `name = value` lines) and `check_params` refuses every
injected name that the parameters cell does not declare, with the closest declared names.
Outside IPython (no `In`) there is nothing to compare with, and nothing changes.
"""

import ast
import difflib
import math
import numbers
import tempfile
import typing
from pathlib import Path


class ParameterError(ValueError):
    """Parameters whose values their declared types, bounds or choices rule out."""


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(value)


def to_int(value):
    # bool is a subclass of int, but True is never meant as a count or a size
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str):
        value = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)  # 3.0 is 3; 0.5 is an error, never silently 0
    raise ValueError(value)


def to_float(value):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise ValueError(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(value)
    return value


def to_str(value):
    # numbers are fine as text (a folder named 2024); True, None or a list are mistakes
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value)
    raise ValueError(value)


def to_ints(value):
    if isinstance(value, str):
        value = value.strip().strip("()[]").replace(",", " ").split()
    elif not isinstance(value, (list, tuple)):
        value = [value]
    if not value:
        raise ValueError(value)
    return tuple(to_int(v) for v in value)


# declared type -> (converter, what it accepts, in words)
KINDS = {
    bool: (to_bool, "true or false"),
    int: (to_int, "a whole number"),
    float: (to_float, "a number"),
    str: (to_str, "text"),
    tuple: (to_ints, "whole numbers separated by commas, like '256,512'"),
}


def allowed(kind, low=None, high=None, options=None):
    """What a parameter accepts, in words: 'a whole number >= 1', "one of 'a', 'b'"."""
    if options is not None:
        return "one of " + ", ".join(map(repr, options))
    words = KINDS[kind][1]
    each = ", each" if kind is tuple else ""
    if low is not None and high is not None:
        return f"{words}{each} from {low} to {high}"
    if low is not None:
        return f"{words}{each} >= {low}"
    if high is not None:
        return f"{words}{each} <= {high}"
    return words


def check_value(kind, value, low=None, high=None, options=None):
    """`value` converted to `kind` (a key of KINDS); ValueError if it is not allowed."""
    value = KINDS[kind][0](value)
    items = value if kind is tuple else (value,)
    if options is not None and value not in options:
        raise ValueError(value)
    if low is not None and any(v < low for v in items):
        raise ValueError(value)
    if high is not None and any(v > high for v in items):
        raise ValueError(value)
    return value


INJECTED_HEADER = "# Parameters"  # the first line of papermill's injected cell (PythonTranslator)


def injected_names(namespace):
    """The names papermill injected, in order, from the cell history `In` of an IPython
    kernel's `namespace`; [] outside IPython, or if nothing was injected.

    The injected cell is the most recent source in `In` whose first line is `# Parameters`
    and whose statements are all plain `name = value` assignments (what papermill writes,
    for -p, -r, -y and -f alike). The search goes back from the newest entry (the cell now
    running, when the kernel stores it) and stops at the first cell with a top-level
    annotated assignment, the parameters cell: an injected cell older than the last run of
    the parameters cell no longer sets anything. Cells between the injected cell and the
    check (none in the book's chapters) are passed over. A cell of the reader's own that
    looks exactly like papermill's (`# Parameters`, then only assignments) counts as one."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return []
    for source in reversed(history):
        if not isinstance(source, str):
            continue
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        if any(isinstance(node, ast.AnnAssign) for node in body):
            return []  # the parameters cell, run after any injected cell
        lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
        if (body and lines[0] == INJECTED_HEADER
                and all(isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name) for node in body)):
            return list(dict.fromkeys(node.targets[0].id for node in body))
    return []


def unknown_message(unknown, declared):
    """The error for injected names the parameters cell does not declare: each with the
    closest declared names (up to 3, closest first), or all of them where none is close."""
    close = {name: difflib.get_close_matches(name, declared, n=3) for name in unknown}
    hint = {name: f"did you mean {' or '.join(close[name])}?" if close[name] else "no "
            "parameter is named like it" for name in unknown}
    names = ", ".join(declared)
    if len(unknown) == 1:
        (name,) = unknown
        text = (f"unknown parameter {name}; "
                + (hint[name] if close[name] else f"the parameters are {names}"))
    else:
        text = (f"unknown parameters {', '.join(unknown)}:\n"
                + "\n".join(f"  {name}: {hint[name]}" for name in unknown))
        if not all(close.values()):
            text += f"\nThe parameters are {names}"
    return (text + "\npapermill passes on any name it is given, and a name that the "
            "parameters cell does not declare would be ignored: correct it in papermill's "
            "-p (or -r, -y, -f) option.")


def check_params(namespace, *, minimum=None, maximum=None, choices=None):
    """The parameters declared in `namespace` (a chapter's `globals()`), converted to their
    declared types and checked; a dict to write back with `globals().update(...)`.

    minimum, maximum: {name: bound}, inclusive; for a tuple, bounds apply to each number.
    choices: {name: allowed values}, compared after conversion.
    Raises ParameterError naming every name papermill injected that the parameters cell
    does not declare (`injected_names`; "unknown parameter out_dirr; did you mean
    out_dir?"), and every bad parameter, the value it got and what is allowed."""
    minimum, maximum, choices = minimum or {}, maximum or {}, choices or {}
    declared = dict(namespace.get("__annotations__", {}))
    if not declared:
        raise ParameterError("found no typed parameters (lines like `epochs: int = 3`): call "
                             "check_params(globals()) in a cell after the parameters cell")
    undeclared = sorted((set(minimum) | set(maximum) | set(choices)) - set(declared))
    if undeclared:  # a chapter's own mistake, not the reader's
        raise ParameterError(f"bounds or choices given for undeclared parameters {undeclared}")
    unknown = [name for name in injected_names(namespace) if name not in declared]
    checked, problems = {}, []
    for name, kind in declared.items():
        kind = typing.get_origin(kind) or kind  # tuple[int, ...] -> tuple
        if name not in namespace or kind not in KINDS:
            continue
        value = namespace[name]
        bounds = minimum.get(name), maximum.get(name), choices.get(name)
        try:
            checked[name] = check_value(kind, value, *bounds)
        except (ValueError, TypeError):
            problems.append(f"  {name} = {value!r}: expected {allowed(kind, *bounds)}")
    messages = [unknown_message(unknown, list(declared))] if unknown else []
    if problems:
        n = len(problems)
        messages.append(
            f"{n} parameter{'s' if n > 1 else ''} cannot be used:\n" + "\n".join(problems)
            + "\nChange the value in the parameters cell, or in papermill's -p option.")
    if messages:
        raise ParameterError("\n".join(messages))
    return checked


def check_out_dir(path, name="out_dir"):
    """Create the folder `path` if needed and make sure a file can be written in it; return it
    as a Path. Chapters call this before any work: they write their checkpoints only after
    training, too late to learn that the folder was a file or read-only."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ParameterError(f"{name} = {str(path)!r} is a file, not a folder: choose another "
                             f"{name}, or move that file away")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ParameterError(f"{name} = {str(path)!r} cannot be written to ({e.strerror or e}): "
                             f"choose a folder you can write to") from None
    return path
