"""The engine's import rules (DESIGN.md "Layout"): no import cycles between engine
modules; no import of workers, blueprints, RQ or Flask's request; rules <- triggers
and outbox <- sending, one way. Read from the source with `ast`, imports inside
functions included, so nothing has to be imported to be checked."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_PACKAGES = ("workers", "blueprints", "rq")
# (importer, imported): packages that must never import the other way round.
ONE_WAY = (("engine.rules", "engine.triggers"), ("engine.outbox", "engine.sending"))


def module_names(root: Path, package: str) -> dict[str, Path]:
    """{"engine.rules.sql": path, "engine.rules": .../__init__.py, ...} under root/package."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _absolute(node: ast.ImportFrom, importer: str, modules: dict[str, Path]) -> str:
    if not node.level:
        return node.module or ""
    # Relative: `from . import x` in a package's __init__ is relative to the package itself.
    base = importer.split(".") if _is_package(importer, modules) else importer.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, modules: dict[str, Path]) -> list[tuple[int, str]]:
    """[(line, dotted name)] of everything module `name` imports, at any depth of its
    code; `from a import b` is `a.b` (a submodule or a name in `a`), and Flask's
    request is reported as "flask.request" however it is reached."""
    tree = ast.parse(modules[name].read_text(), filename=str(modules[name]))
    found = []
    flask_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name))
                if alias.name == "flask":
                    flask_aliases.add(alias.asname or "flask")
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, name, modules)
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    for node in ast.walk(tree):  # `import flask` ... `flask.request`
        if (isinstance(node, ast.Attribute) and node.attr == "request"
                and isinstance(node.value, ast.Name) and node.value.id in flask_aliases):
            found.append((node.lineno, "flask.request"))
    return found


def _targets(imported: str, importer: str, modules: dict[str, Path]) -> set[str]:
    """The modules whose code this import runs: the module named (for `from pkg import
    name`, the package) and every package above it -- except, among those above, the
    importer's own packages, which have already run by the time it imports anything."""
    parts = imported.split(".")
    chain = [".".join(parts[:n]) for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in modules]
    if not chain:
        return set()  # not an engine module
    named, above = chain[-1], set(chain[:-1])
    own_packages = {".".join(importer.split(".")[:n]) for n in range(1, importer.count(".") + 1)}
    if _is_package(importer, modules):
        own_packages.add(importer)
    return ({named} | above - own_packages) - {importer}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """{module: the modules it makes run}: the edges along which an import cycle can form."""
    return {name: set().union(*(_targets(imported, name, modules)
                                for _, imported in imports_of(name, modules)))
            for name in modules}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import each other, directly or in a ring (Tarjan's
    strongly connected components with more than one module)."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def forbidden_imports(modules: dict[str, Path]) -> list[str]:
    """"module:line imports X" for each import of workers, blueprints, rq or flask.request."""
    found = []
    for name in modules:
        for line, imported in imports_of(name, modules):
            top = imported.split(".")[0]
            if top in FORBIDDEN_PACKAGES or imported in ("flask.request", "flask.globals.request"):
                found.append(f"{name}:{line} imports {imported}")
    return found


def wrong_way_imports(modules: dict[str, Path]) -> list[str]:
    """"module:line imports X" for each import against ONE_WAY."""
    def inside(name, package):
        return name == package or name.startswith(package + ".")

    found = []
    for name in modules:
        for importer_pkg, imported_pkg in ONE_WAY:
            if inside(name, importer_pkg):
                found.extend(f"{name}:{line} imports {imported}"
                             for line, imported in imports_of(name, modules)
                             if inside(imported, imported_pkg))
    return found


# ---- the engine ---------------------------------------------------------------

ENGINE = module_names(ROOT, "engine")


def test_the_engine_has_no_import_cycles():
    cycles = import_cycles(import_graph(ENGINE))
    assert not cycles, "engine modules that import each other: " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles)


def test_the_engine_imports_no_workers_blueprints_rq_or_request():
    assert not forbidden_imports(ENGINE), (
        "the engine rings the Doorbell (engine/ports.py) and takes its input as arguments: "
        + "; ".join(forbidden_imports(ENGINE)))


def test_engine_packages_import_one_way():
    assert not wrong_way_imports(ENGINE), "; ".join(wrong_way_imports(ENGINE))


def test_the_walk_sees_the_whole_engine():
    assert {"engine.rules", "engine.rules.sql", "engine.triggers.generate", "engine.tick",
            "engine.outbox.sweeps"} <= ENGINE.keys()
    # Function-level imports count too: engine.personas imports current_app inside a function.
    assert "flask.current_app" in {imported for _, imported in imports_of("engine.personas", ENGINE)}


# ---- the checks themselves, on fake engines -----------------------------------

def fake_engine(tmp_path, files: dict[str, str]) -> dict[str, Path]:
    for relative, source in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return module_names(tmp_path, "engine")


def test_a_ring_of_imports_across_packages_is_a_cycle(tmp_path):
    modules = fake_engine(tmp_path, {
        "engine/__init__.py": "",
        "engine/a/__init__.py": "",
        "engine/a/one.py": "def f():\n    from engine.b.two import g\n",  # inside a function
        "engine/b/__init__.py": "",
        "engine/b/two.py": "from engine.c import h\n",
        "engine/c.py": "import engine.a.one\n",
        "engine/d.py": "from engine.c import h\n",  # imports into the ring, not part of it
    })
    assert import_cycles(import_graph(modules)) == [["engine.a.one", "engine.b.two", "engine.c"]]


def test_a_package_init_importing_its_submodules_is_not_a_cycle(tmp_path):
    modules = fake_engine(tmp_path, {
        "engine/__init__.py": "",
        "engine/rules/__init__.py": "from engine.rules.sql import compile_rule\nfrom .nodes import Node\n",
        "engine/rules/nodes.py": "",
        "engine/rules/sql.py": "from engine.rules.nodes import Node\nfrom . import nodes\n",
    })
    assert import_cycles(import_graph(modules)) == []


def test_a_submodule_importing_its_own_package_back_is_a_cycle(tmp_path):
    modules = fake_engine(tmp_path, {
        "engine/__init__.py": "",
        "engine/rules/__init__.py": "from engine.rules.sql import compile_rule\n",
        "engine/rules/nodes.py": "",
        "engine/rules/sql.py": "from engine.rules import parse_rule\n",
    })
    assert import_cycles(import_graph(modules)) == [["engine.rules", "engine.rules.sql"]]


def test_importing_a_submodule_runs_its_package_init(tmp_path):
    # engine.b.two -> engine.a.one also runs engine/a/__init__.py, which imports engine.b;
    modules = fake_engine(tmp_path, {
        "engine/__init__.py": "",
        "engine/a/__init__.py": "from engine.b import x\n",
        "engine/a/one.py": "",
        "engine/b/__init__.py": "x = 1\n",
        "engine/b/two.py": "import engine.a.one\n",
    })
    assert import_cycles(import_graph(modules)) == []  # engine.b has run before engine.b.two
    # Once engine/b/__init__.py imports engine.b.two, engine.a -> engine.b -> engine.b.two -> engine.a.
    modules = fake_engine(tmp_path, {"engine/b/__init__.py": "from engine.b.two import y\n"})
    assert import_cycles(import_graph(modules)) == [["engine.a", "engine.b", "engine.b.two"]]


def test_forbidden_imports_are_found_wherever_they_are(tmp_path):
    modules = fake_engine(tmp_path, {
        "engine/__init__.py": "",
        "engine/ok.py": "from flask import current_app\nimport workersx\n",
        "engine/jobs.py": "def later():\n    from workers.queues import get_queue\n",
        "engine/views.py": "from blueprints.outbox import bp\n",
        "engine/queue.py": "import rq.job\n",
        "engine/web.py": "from flask import current_app, request as req\n",
        "engine/web2.py": "import flask\n\ndef who():\n    return flask.request.remote_addr\n",
    })
    assert forbidden_imports(modules) == [
        "engine.jobs:2 imports workers.queues.get_queue",
        "engine.queue:1 imports rq.job",
        "engine.views:1 imports blueprints.outbox.bp",
        "engine.web:1 imports flask.request",
        "engine.web2:4 imports flask.request",
    ]


def test_an_import_against_the_one_way_rule_is_found(tmp_path):
    modules = fake_engine(tmp_path, {
        "engine/__init__.py": "",
        "engine/rules/__init__.py": "",
        "engine/rules/sql.py": "def f():\n    from engine.triggers.generate import run\n",
        "engine/triggers/__init__.py": "from engine.rules.sql import f\n",  # the right way
        "engine/triggers/generate.py": "",
        "engine/outbox/__init__.py": "import engine.sending\n",
        "engine/sending/__init__.py": "from engine import outbox\n",  # the right way
    })
    assert wrong_way_imports(modules) == [
        "engine.outbox:1 imports engine.sending",
        "engine.rules.sql:2 imports engine.triggers.generate.run",
    ]
