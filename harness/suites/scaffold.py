"""Write a new boundary suite: ``python -m harness.suites.scaffold NAME --services a,b``
(or ``nox -s scaffold -- NAME --services a,b``).

It writes the package ``NAME/`` at the project root, with ``__init__.py`` (its
docstring is the suite's nox help), ``topology.py`` (the declaration),
``conftest.py`` and ``test_stack.py`` (one scenario: every service serves), and
registers the suite in ``pyproject.toml`` (``[tool.galaxy-integration] suites``,
so ``nox -s NAME`` exists; pytest's ``testpaths`` and mypy's ``files`` too).

Each service's variables are read from its documented table (the section named
after it in the Go workspace's README.md, :mod:`harness.topology.settings`):
``<P>_<L>_ADDR`` with a default is the listener ``l``; ``<P>_READY_FILE`` the
ready file; ``<P>_REDIS_URL`` and ``<P>_REDIS_KEY_PREFIX`` the stack's Redis; a
required ``<P>_<S>_ADDR`` or ``<P>_<S>_URL`` naming another service of the suite
its address or base URL. What a registered suite already sends the same service
(a key file, a stub's URL, a log level) is sent alike, with the stubs and
materials it needs. A required variable none of that settles gets a ``TODO``:
there a person must choose.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.builds.binary import commands
from harness.paths import PROJECT_ROOT, galaxy_root
from harness.suites.registry import suites
from harness.topology.declaration import (
    REDIS_URL,
    Address,
    MaterialValue,
    RedisPrefix,
    RedisUrl,
    Service,
    Topology,
    Url,
    Value,
)
from harness.topology.settings import SettingsError, documented_variables

__all__ = ["Plan", "main", "plan", "write"]

TODO = "TODO"


class ScaffoldError(ValueError):
    """A suite that cannot be written as asked."""


@dataclass
class Planned:
    """One service of the new suite, as the scaffold declares it."""

    name: str
    docs: str
    listens: dict[str, str] = field(default_factory=dict)
    ready_file: str | None = None
    env: dict[str, Value] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    """Variable -> a comment above it (a TODO, or why it is sent as it is)."""
    probes: dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    """The suite the scaffold writes."""

    name: str
    services: list[Planned]
    stubs: dict[str, str] = field(default_factory=dict)
    materials: dict[str, str] = field(default_factory=dict)

    @property
    def todos(self) -> list[str]:
        return [f"{s.name}: {var}" for s in self.services for var, note in s.notes.items() if note.startswith(TODO)]

    @property
    def uses_redis(self) -> bool:
        return any(isinstance(v, RedisUrl) for s in self.services for v in s.env.values())


def _known(name: str, root: Path) -> list[tuple[Service, Topology]]:
    """How the registered suites declare service ``name``."""
    found = []
    for suite in suites(root):
        topology = suite.topology()
        found += [(s, topology) for s in topology.services if s.name == name]
    return found


def _docs(service: str, root: Path) -> str:
    workspace = galaxy_root()
    relative = workspace.relative_to(root) if workspace.is_relative_to(root) else workspace
    return f"{relative}/README.md#{service}"


def _listener_for(dep: Planned, kind: str) -> str | None:
    """The listener of ``dep`` another service reaches by a host:port (``addr``, a gRPC one
    when it has one) or a base URL (``url``, an HTTP one): None when a person must choose."""
    wanted = "grpc" if kind == "addr" else "http"
    if wanted in dep.listens:
        return wanted
    return next(iter(dep.listens)) if len(dep.listens) == 1 else None


def _first_pass(name: str, docs: str, root: Path) -> tuple[Planned, list[tuple[str, str | None]]]:
    try:
        documented = list(documented_variables(docs, root))
    except (SettingsError, FileNotFoundError) as exc:
        raise ScaffoldError(f"{name}: its variables are not documented ({exc})") from None
    planned = Planned(name, docs)
    prefix = name.upper().replace("-", "_") + "_"
    for var, default in documented:
        suffix = var.removeprefix(prefix)
        if suffix == "READY_FILE":
            planned.ready_file = var
        elif (m := re.fullmatch(r"(\w+)_ADDR", suffix)) and default is not None:
            planned.listens[m[1].lower()] = var
    if planned.ready_file is None or not planned.listens:
        raise ScaffoldError(f"{name}: {docs} documents no <P>_READY_FILE or no listen address (<P>_<L>_ADDR)")
    return planned, documented


def plan(name: str, services: Sequence[str], root: Path = PROJECT_ROOT) -> Plan:
    """The suite ``name`` of ``services`` (commands of the Go workspace), as the scaffold would write it."""
    if not name.isidentifier() or name.startswith("_"):
        raise ScaffoldError(f"{name!r}: a suite is a Python package, its name an identifier")
    if (root / name).exists():
        raise ScaffoldError(f"{root / name} exists already")
    known = commands(galaxy_root())
    if unknown := [s for s in services if s not in known]:
        raise ScaffoldError(f"no command {unknown} in the Go workspace; its commands: {sorted(known)}")
    if len(set(services)) != len(services) or not services:
        raise ScaffoldError(f"--services wants distinct commands, one or more: {list(services)}")
    first = {s: _first_pass(s, _docs(s, root), root) for s in services}
    result = Plan(name, [planned for planned, _ in first.values()])
    prefixes = {s: d for s, (_, documented) in first.items() for v, d in documented if v.endswith("_REDIS_KEY_PREFIX")}
    shared = next(iter(prefixes.values()), None)
    for planned, documented in first.values():
        suite = {s: p for s, (p, _) in first.items()}
        _second_pass(result, planned, documented=documented, suite=suite, shared_prefix=shared, root=root)
    return result


def _second_pass(
    result: Plan,
    planned: Planned,
    *,
    documented: list[tuple[str, str | None]],
    suite: dict[str, Planned],
    shared_prefix: str | None,
    root: Path,
) -> None:
    prefix = planned.name.upper().replace("-", "_") + "_"
    known = _known(planned.name, root)
    for var, default in documented:
        if var in planned.listens.values() or var == planned.ready_file:
            continue
        suffix = var.removeprefix(prefix)
        dep = re.fullmatch(r"(\w+)_(ADDR|URL)", suffix)
        if suffix == "REDIS_URL":
            planned.env[var] = REDIS_URL
        elif suffix == "REDIS_KEY_PREFIX":
            planned.env[var] = RedisPrefix() if default == shared_prefix else RedisPrefix(default or "")
            if default != shared_prefix:
                planned.notes[var] = f"apart from the others' keys, as its default ({default}) is"
        elif dep and default is None and (other := suite.get(dep[1].lower())) and other is not planned:
            listener = _listener_for(other, dep[2].lower())
            if listener is None:
                planned.env[var] = TODO
                planned.notes[var] = f"{TODO}: which listener of {other.name} ({', '.join(other.listens)})"
            else:
                address = Address(other.name, listener)
                planned.env[var] = address if dep[2] == "ADDR" else Url(other.name, listener)
        elif (value := _as_known(result, var, known, suite)) is not None:
            planned.env[var] = value
        elif default is None and dep:
            what = "address" if dep[2] == "ADDR" else "base URL"
            planned.env[var] = TODO
            planned.notes[var] = f"{TODO}: {dep[1].lower()}'s {what}: add it to the suite, or give a stub's url()"
        elif default is None:
            planned.env[var] = TODO
            planned.notes[var] = f"{TODO}: required ({planned.docs}); a literal, a stub's url() or a material()"
    for service, _ in known[:1]:
        planned.probes = {k: v for k, v in service.probes.items() if k in planned.listens}


def _as_known(result: Plan, var: str, known: list[tuple[Service, Topology]], suite: dict[str, Planned]) -> Value | None:
    """What a registered suite sends ``var``, if the new suite can send it too (with the
    stub or the material it names)."""
    for service, topology in known:
        value = service.env.get(var)
        if isinstance(value, Url) and value.listener is None:  # a stub's
            result.stubs[value.part] = topology.stubs[value.part]
            return value
        if isinstance(value, MaterialValue):
            result.materials[value.material] = topology.materials[value.material]
            return value
        if isinstance(value, str | RedisUrl | RedisPrefix):
            return value
        if (isinstance(value, Address) and value.service in suite) or (isinstance(value, Url) and value.part in suite):
            return value
    return None


# ------------------------------------------------------------------ rendering


def _value(value: Value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Address):
        return f'address("{value.service}", "{value.listener}")'
    if isinstance(value, Url):
        return f'url("{value.part}")' if value.listener is None else f'url("{value.part}", "{value.listener}")'
    if isinstance(value, RedisUrl):
        return "REDIS_URL"
    if isinstance(value, RedisPrefix):
        return f'redis_prefix("{value.suffix}")' if value.suffix else "redis_prefix()"
    return f'material("{value.material}", "{value.key}")'


_HELPERS = {
    Address: "address",
    Url: "url",
    RedisUrl: "REDIS_URL",
    RedisPrefix: "redis_prefix",
    MaterialValue: "material",
}


def _imports(result: Plan) -> str:
    names = {"Service", "Topology"}
    names |= {_HELPERS[type(v)] for s in result.services for v in s.env.values() if type(v) in _HELPERS}
    ordered = sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    return f"from harness.topology.declaration import {', '.join(ordered)}"


def _mapping(head: str, items: dict[str, str], indent: str) -> list[str]:
    """``head{"k": v, ...},`` on one line when it fits in 120 columns, else one item a line."""
    line = f"{indent}{head}{{" + ", ".join(f'"{k}": {v}' for k, v in items.items()) + "},"
    if len(line) <= 120:
        return [line]
    return [f"{indent}{head}{{", *(f'{indent}    "{k}": {v},' for k, v in items.items()), f"{indent}}},"]


def _quoted(items: dict[str, str]) -> dict[str, str]:
    return {k: f'"{v}"' for k, v in items.items()}


def _service(planned: Planned) -> list[str]:
    lines = [
        "        Service(",
        f'            "{planned.name}",',
        *_mapping("listens=", _quoted(planned.listens), "            "),
        f'            ready_file="{planned.ready_file}",',
        f'            docs="{planned.docs}",',
    ]
    if planned.probes:
        lines += _mapping("probes=", _quoted(planned.probes), "            ")
    if planned.env:
        lines.append("            env={")
        for var, value in planned.env.items():
            if var in planned.notes:
                lines.append(f"                # {planned.notes[var]}")
            lines.append(f'                "{var}": {_value(value)},')
        lines.append("            },")
    return [*lines, "        ),"]


def topology_source(result: Plan) -> str:
    parts = " ↔ ".join(s.name for s in result.services)
    lines = [
        f'"""The {parts} boundary, declared (written by python -m harness.suites.scaffold)."""',
        "",
        "from __future__ import annotations",
        "",
        _imports(result),
        "",
        "TOPOLOGY = Topology(",
        f'    name="{result.name}",',
    ]
    if not result.uses_redis:
        lines.append("    redis=None,")
    if result.stubs:
        lines += _mapping("stubs=", _quoted(dict(sorted(result.stubs.items()))), "    ")
    if result.materials:
        lines += _mapping("materials=", _quoted(dict(sorted(result.materials.items()))), "    ")
    lines.append("    services=(")
    for planned in result.services:
        lines += _service(planned)
    lines.append("    ),")
    clients = {s.name: "(" + ", ".join(f'"{x}"' for x in s.listens) + ("," if len(s.listens) == 1 else "") + ")"
               for s in result.services}  # fmt: skip
    lines += _mapping("clients=", clients, "    ")
    lines.append(")")
    return "\n".join(lines) + "\n"


def files(result: Plan) -> dict[str, str]:
    """The files of the new suite, by path relative to the project root."""
    parts = " ↔ ".join(s.name for s in result.services)
    name = result.name
    return {
        f"{name}/__init__.py": f'"""The {parts} boundary suite."""\n',
        f"{name}/topology.py": topology_source(result),
        f"{name}/conftest.py": (
            f'"""The {name} suite\'s hooks: its declaration (topology.py) is all the harness needs."""\n\n'
            f"from __future__ import annotations\n\nfrom {name}.topology import TOPOLOGY\n\n"
            '__all__ = ["TOPOLOGY"]\n'
        ),
        f"{name}/test_stack.py": (
            f'"""The {name} boundary\'s first scenario: its stack starts and every service serves."""\n\n'
            "from __future__ import annotations\n\nimport socket\n\nfrom harness.topology.stack import Stack\n\n\n"
            "def test_every_service_of_the_boundary_serves(stack: Stack) -> None:\n"
            "    for service in stack.topology.services:\n"
            "        for listener in service.listens:\n"
            '            host, port = stack.address(service.name, listener).rsplit(":", 1)\n'
            "            with socket.create_connection((host, int(port)), timeout=5):\n"
            "                pass\n"
        ),
    }


# ------------------------------------------------------------------ registration


def _append(text: str, table: str, key: str, value: str) -> str:
    """``text`` (a TOML document) with ``value`` added to the one-line list ``key`` of ``[table]``."""
    header = re.search(rf"^\[{re.escape(table)}\]\s*$", text, re.MULTILINE)
    if header is None:
        raise ScaffoldError(f"pyproject.toml has no [{table}]")
    line = re.compile(rf"^({re.escape(key)}\s*=\s*\[)(.*?)(\])", re.MULTILINE)
    found = line.search(text, header.end())
    if found is None or re.search(r"^\[", text[header.end() : found.start()], re.MULTILINE):
        raise ScaffoldError(f"pyproject.toml's [{table}] has no one-line list {key} = [...]")
    items = found[2].rstrip().rstrip(",")
    return text[: found.start(2)] + (f'{items}, "{value}"' if items.strip() else f'"{value}"') + text[found.end(2) :]


def register(name: str, root: Path = PROJECT_ROOT) -> None:
    """Add suite ``name`` to pyproject.toml: the registry, pytest's testpaths and mypy's files."""
    path = root / "pyproject.toml"
    text = path.read_text()
    text = _append(text, "tool.galaxy-integration", "suites", name)
    text = _append(text, "tool.pytest.ini_options", "testpaths", name)
    text = _append(text, "tool.mypy", "files", name)
    tomllib.loads(text)  # still a TOML document
    path.write_text(text)


def write(result: Plan, root: Path = PROJECT_ROOT) -> list[Path]:
    """Write the suite's files and register it; returns the files written."""
    written = []
    for relative, text in files(result).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    register(result.name, root)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.suites.scaffold", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the suite's package name, for the boundary it tests (gatewayauthsession)")
    parser.add_argument("--services", required=True, help="commands of the Go workspace, comma-separated: a,b")
    args = parser.parse_args(argv)
    try:
        result = plan(args.name, [s.strip() for s in args.services.split(",") if s.strip()])
        written = write(result)
    except ScaffoldError as exc:
        parser.error(str(exc))
    for path in written:
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    print(f"registered {result.name} in pyproject.toml: ./noxw -s {result.name} runs it")
    for todo in result.todos:
        print(f"TODO in {result.name}/topology.py: {todo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
