"""The code's shape: no import cycles between King-Avis's modules, nor between its packages.

Every import counts, those inside functions too: an import moved into a function to dodge a
cycle at load time is still a cycle of design (two modules that each need the other), and the
next maintainer cannot tell which one to read first. Two things are not arrows:

- a package's ``__init__`` that hands on a name from one of its modules (``kingavis`` hands on
  ``create_app``): the arrow goes to the module that defines it;
- a module taking ``blueprint`` from its own package's ``__init__``, which then imports its
  view modules to register their routes: Flask's blueprint pattern, not two modules that need
  each other's logic.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kingavis", "admin", "webhooks")


def _modules() -> dict[str, tuple[ast.Module, bool]]:
    found: dict[str, tuple[ast.Module, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = (ast.parse(path.read_text(), str(path)), is_package)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports, anywhere in its code."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    # Names a package's __init__ hands on from its own modules.
    handed_on: dict[tuple[str, str], str] = {}
    for name, (tree, is_package) in modules.items():
        if not is_package:
            continue
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                for alias in node.names:
                    handed_on[(name, alias.asname or alias.name)] = f"{name}.{node.module}"

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (tree, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [owner(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    prefix = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    prefix = node.module or ""
                targets = []
                for alias in node.names:
                    full = f"{prefix}.{alias.name}"
                    if full in modules:
                        targets.append(full)
                    elif (prefix, alias.name) in handed_on:
                        targets.append(handed_on[(prefix, alias.name)])
                    elif alias.name == "blueprint" and name.startswith(prefix + "."):
                        continue
                    else:
                        targets.append(owner(prefix))
            else:
                continue
            graph[name].update(t for t in targets if t and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    inside = set(component)
    arrows = [f"  {a} -> {b}" for a in component for b in sorted(graph[a] & inside)]
    return "\n".join([" <-> ".join(component), *arrows])


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_describe(c, graph) for c in found)


def package_of(module: str) -> str:
    """The package a module belongs to: a blueprint package (``admin``, ``webhooks``), a domain
    package of ``kingavis`` (``kingavis.orders``), or a module of ``kingavis`` itself
    (``kingavis.models``), which counts as a package of one."""
    parts = module.split(".")
    return parts[0] if parts[0] != "kingavis" else ".".join(parts[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> the other packages its modules import."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = package_of(module)
        packages.setdefault(here, set()).update(package_of(t) for t in targets if package_of(t) != here)
    for targets in list(packages.values()):
        for target in targets:
            packages.setdefault(target, set())
    return packages


def test_no_import_cycles_between_packages() -> None:
    """Packages stand in layers (docs/architecture.md): a package imports only packages below
    it, so a reader can learn them bottom up, and two packages never need each other."""
    graph = import_graph()
    packages = package_graph(graph)
    found = cycles(packages)

    def arrows(component: list[str]) -> str:
        inside = set(component)
        lines = []
        for package in component:
            for target in sorted(packages[package] & inside):
                via = sorted(f"{a} -> {b}" for a, bs in graph.items() for b in bs
                             if package_of(a) == package and package_of(b) == target)
                lines.append(f"  {package} -> {target}: " + ", ".join(via))
        return "\n".join([" <-> ".join(component), *lines])

    assert not found, "package cycles:\n" + "\n".join(arrows(c) for c in found)


# The layers of docs/architecture.md, bottom first: a package imports only packages of a lower
# layer, or of its own layer without a cycle (test_no_import_cycles_between_packages).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("kingavis.extensions", "kingavis.config", "kingavis.i18n", "kingavis.emails", "kingavis.formatting",
     "kingavis.mail_headers", "kingavis.mail_settings", "kingavis.customer_keys", "kingavis.transactions",
     "kingavis.logging", "kingavis.csp", "kingavis.private_urls", "kingavis.problems", "kingavis.ratelimit",
     "kingavis.outages", "kingavis.health", "kingavis.errors", "kingavis.cli_support"),
    ("kingavis.models",),
    ("kingavis.scheduling",),
    ("kingavis.accounts",),
    ("kingavis.privacy",),
    ("kingavis.shops",),
    ("kingavis.review_requests",),
    ("kingavis.orders",),
    ("kingavis.reviews",),
    ("kingavis.personal_data",),
    ("kingavis.delivery",),
    ("kingavis.deliverability",),
    ("kingavis.platforms",),
    ("kingavis.api", "kingavis.pages", "webhooks", "admin", "kingavis.cli", "kingavis.worker",
     "kingavis.cron_config", "kingavis.app", "kingavis"),
)


def test_every_package_imports_only_the_layers_below_it() -> None:
    """The table of docs/architecture.md, checked: every package is in a layer, and every arrow
    between packages goes down or stays in its layer."""
    layer = {package: n for n, packages in enumerate(LAYERS) for package in packages}
    graph = import_graph()
    unknown = sorted({package_of(m) for m in graph} - set(layer))
    assert not unknown, f"packages in no layer of docs/architecture.md: {unknown}"
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if package_of(a) != package_of(b)
        and layer[package_of(b)] > layer[package_of(a)]
    )
    assert not upward, "imports that go up the layers:\n" + "\n".join(upward)


def test_the_package_check_sees_a_cycle_through_two_modules() -> None:
    """The check itself: two packages whose modules import each other's are one cycle."""
    graph = {"kingavis.a.x": {"kingavis.b.y"}, "kingavis.b.y": set(), "kingavis.b.z": {"kingavis.a.w"},
             "kingavis.a.w": set()}
    assert cycles(package_graph(graph)) == [["kingavis.a", "kingavis.b"]]
    assert cycles(package_graph({"kingavis.a.x": {"kingavis.b.y"}, "kingavis.b.y": set()})) == []


def test_the_cycle_check_sees_imports_inside_functions() -> None:
    """The check itself: a lazy import is an arrow, and two modules importing each other are
    reported."""
    graph = import_graph()
    assert "kingavis.app" in graph["kingavis.delivery.sending"] or any(
        "kingavis.app" in targets for targets in graph.values())
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_job_the_code_enqueues_by_name_is_a_job_of_the_worker() -> None:
    """The delivery code enqueues the worker's jobs by dotted name (so it never imports the
    app factory): a renamed job would leave every queued email unsent."""
    import importlib

    from kingavis import delivery

    names = {k: v for k, v in vars(delivery).items() if k.startswith("JOB_")}
    assert len(names) == 2
    for constant, dotted in names.items():
        module, _, function = dotted.rpartition(".")
        assert module == "kingavis.worker", constant
        assert callable(getattr(importlib.import_module(module), function)), constant
