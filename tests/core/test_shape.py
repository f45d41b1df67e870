"""The library's shape, checked: the core imports nothing above it and nothing imports upward
(data -> models -> the game and its step -> fit's engine -> fit -> evaluation -> pictures ->
the chapters' kit); `import ganlib` stays light; the step stays Algorithm 1."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import ganlib
from ganlib import steps

PACKAGE = Path(ganlib.__file__).resolve().parent

# Each room's rank: a module may import its own rank or lower ones, never a higher one.
RANKS = {
    "ganlib.utils": 0, "ganlib.data": 1, "ganlib.models": 2,
    "ganlib.losses": 3, "ganlib.penalties": 3, "ganlib.augment": 3,
    "ganlib.game": 4, "ganlib.steps": 5, "ganlib.config": 5,
    "ganlib.engine": 6, "ganlib.train": 7, "ganlib.evaluate": 8, "ganlib.viz": 9,
    "ganlib.book": 10, "ganlib.bench": 10, "ganlib.train_dcgan": 10,
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module):
    room = next(r for r in sorted(RANKS, key=len, reverse=True)
                if module == r or module.startswith(r + "."))
    return RANKS[room]


def imports(path):
    """The ganlib modules `path` imports, anywhere in it (lazy imports too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ganlib")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            if not base.startswith("ganlib"):
                continue
            for alias in node.names:  # `from ganlib import data` imports the module ganlib.data
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
    return found


def _exists(module):
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def graph():
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")
            if p != PACKAGE / "__init__.py" and p.name != "__main__.py"}


def test_no_module_imports_a_higher_room():
    upward = [f"{m} -> {t}" for m, targets in graph().items() for t in targets
              if t != "ganlib" and rank(t) > rank(m)]
    assert not upward, upward


def test_no_module_imports_the_top_level_package():
    """Only readers import `ganlib` itself; a module inside it names what it needs."""
    assert not [m for m, targets in graph().items() if "ganlib" in targets]


def test_there_are_no_import_cycles():
    g = graph()
    state = {}

    def visit(m, path):
        if state.get(m) == "open":
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if state.get(m) == "done":
            return
        state[m] = "open"
        for t in g.get(m, ()):
            if t != m and not m.startswith(t + "."):  # a module importing its own package
                visit(t, path + [m])
        state[m] = "done"

    for m in g:
        visit(m, [])


def test_the_core_is_about_a_dozen_modules_beside_rooms_that_name_their_purpose():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py" and p.name != "__init__.py")
    rooms = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(top) <= 12, top
    assert rooms == ["bench", "book", "data", "engine", "evaluate", "models", "viz"]


def test_import_ganlib_imports_no_plotting_widgets_scipy_or_metrics():
    code = ("import sys, ganlib; heavy = ('matplotlib', 'ipywidgets', 'scipy', 'torchmetrics', "
            "'ganlib.book', 'ganlib.viz', 'ganlib.evaluate', 'ganlib.bench'); "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_readers_used_before_the_rooms_still_resolve():
    from ganlib import check_params, compare, dirac, frechet_distance, inception, show_source

    assert compare.__name__ == "ganlib.book.compare" and dirac.__name__ == "ganlib.book.dirac"
    assert inception.__name__ == "ganlib.evaluate.inception"
    assert check_params.__module__ == "ganlib.book.params"
    assert show_source.__module__ == "ganlib.book.show"
    assert frechet_distance.__module__ == "ganlib.evaluate.metrics"
    assert ganlib.images.dcgan_defaults is ganlib.data.images.dcgan_defaults


def code_lines(fn):
    """Lines of `fn`'s body that are code: no docstring, comment or blank line."""
    tree = ast.parse(inspect.getsource(fn).lstrip()).body[0]
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body
    lines = set()
    for node in body:
        lines |= set(range(node.lineno, node.end_lineno + 1))
    src = inspect.getsource(fn).lstrip().splitlines()
    return [src[i - 1] for i in sorted(lines) if src[i - 1].strip()
            and not src[i - 1].strip().startswith("#")]


def test_the_step_a_learner_reads_is_short():
    """Algorithm 1's two updates fit in one screen, and the loop body takes few arguments."""
    assert len(code_lines(steps.d_step)) + len(code_lines(steps.g_step)) <= 40
    assert len(inspect.signature(steps.train_step).parameters) <= 8
