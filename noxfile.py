"""Every verification step of galaxy integration is a nox session.

    nox -s gatewayauthsession           # a boundary suite (pytest-xdist); one session per registered suite
    nox -s regression                   # every suite + Go module tests + compatibility tests
    nox                                 # everything CI runs

The suites come from pyproject.toml's registry (harness/suites/registry.py); this file names none.
Arguments after ``--`` go to the underlying tool: ``nox -s gatewayauthsession -- -k refresh``.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.builds.tools import TOOLS
from harness.paths import PROJECT_ROOT, REPORTS_DIR, bytecode_env, galaxy_root
from harness.suites import preflight, testids
from harness.suites.registry import Suite, suites

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
# Every command of every session keeps its bytecode (and pytest's rewritten test and plugin modules) under
# .cache/pycache where PYTHONDONTWRITEBYTECODE would have each process compile them again: ~1.5 s a process.
os.environ.update(bytecode_env())
# The sessions a plain `nox` runs are those not marked default=False: lint,
# the contract gates, the harness tests, the regression set, schemathesis, the robustness run, the real-Redis smoke.

ROOT = PROJECT_ROOT
REPORTS = REPORTS_DIR
GALAXY = galaxy_root()
SUITES: list[Suite] = suites()
"""The boundary suites (pyproject.toml's registry): each gets its sessions from here, by name."""
SUITE_PATHS = [suite.name for suite in SUITES]


def _go_modules() -> list[str]:
    """The modules of the Go workspace (go.work's ``use`` lines)."""
    text = (GALAXY / "go.work").read_text()
    return sorted({m.group(1) for m in re.finditer(r"^\s*(?:use\s+)?\./([\w.-]+)\s*$", text, re.MULTILINE)})


GO_MODULES = _go_modules()
# The Go modules of the harness's own tools (the history checker), outside the services' workspace.
TOOL_MODULES = [ROOT / tool.module for tool in TOOLS.values() if tool.module is not None]
GOTESTSUM = "gotest.tools/gotestsum@v1.13.0"
# Go releases besides go.mod's (go1.26.8) that the code must build and pass with: the other supported minor.
# go1.25 cannot build the dependencies (github.com/redis/go-redis/v9 v9.23.0 requires go >= 1.26).
OTHER_GO_TOOLCHAINS = ["go1.27.4"]
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
# The supported Pythons, from pyproject's classifiers: sessions run on the oldest; the harness tests also on the rest.
PYTHON, *OTHER_PYTHONS = nox.project.python_versions(nox.project.load_toml(ROOT / "pyproject.toml"))


def _sync(session: nox.Session, *groups: str) -> None:
    """Install the locked dependencies (uv.lock) and ``groups`` into the session's venv.

    Bytecode is compiled at install time, so a first pytest process imports its
    dependencies without compiling them (where PYTHONDONTWRITEBYTECODE is set,
    sessions keep theirs under .cache/pycache: ``bytecode_env``).

    A venv synced from the same uv.lock, pyproject.toml and groups, whose site-packages
    has not changed since (no package added, removed or replaced), is not synced again:
    ``uv sync`` would find nothing to do, after ~0.15 s of looking.
    """
    venv = Path(session.virtualenv.location)
    stamp = venv / ".galaxy-synced"
    wanted = _sync_key(venv, groups)
    if stamp.is_file() and stamp.read_text() == wanted:
        session.log(f"dependencies as synced before (uv.lock, groups {', '.join(groups) or 'none'}): not syncing")
        return
    args = ["uv", "sync", "--locked", "--no-default-groups", "--quiet", "--compile-bytecode"]
    for group in groups:
        args += ["--group", group]
    if session.run_install(*args, env={"UV_PROJECT_ENVIRONMENT": str(venv)}, external=True):  # None: --no-install
        stamp.write_text(_sync_key(venv, groups))


def _sync_key(venv: Path, groups: tuple[str, ...]) -> str:
    """What a sync of ``venv`` depends on: the lock, the project file, the groups and
    the state of its site-packages (changed by any package added, removed or replaced)."""
    digest = hashlib.sha256()
    for name in ("uv.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    digest.update(",".join(groups).encode())
    for site in sorted(venv.glob("lib/python*/site-packages")):
        digest.update(f"{site}:{site.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


def _preflight(session: nox.Session, *, real_redis: bool = False, base: bool = False) -> None:
    """End a session that builds or runs a suite, before its dependencies are installed, with one line for each
    thing the machine lacks (Go, a well-formed and answering INTEGRATION_REAL_REDIS_ADDR, a GALAXY_SKEW_BASE that
    resolves)."""
    if found := preflight.problems(real_redis_used=real_redis, base_required=base):
        session.error("\n".join(found))


def _junit(name: str) -> list[str]:
    """pytest's flags for run ``name``: its JUnit XML in reports/<name>.xml, its suite named ``name``, and a
    temporary directory of its own (``_basetemp``)."""
    REPORTS.mkdir(exist_ok=True)
    return [f"--junitxml={REPORTS / name}.xml", *("-o", f"junit_suite_name={name}"), _basetemp(name)]


def _basetemp(name: str) -> str:
    """pytest's flag for a temporary directory of run ``name``'s own (.cache/tmp/<name>, emptied as the run
    starts). pytest's shared one (/tmp/pytest-of-<user>) is pruned by every run as it ends, and two runs at once
    pruning it race: the later one's end fails on a directory the other is still writing."""
    (ROOT / ".cache" / "tmp").mkdir(parents=True, exist_ok=True)  # pytest makes the run's own, not its parents
    return f"--basetemp={ROOT / '.cache' / 'tmp' / name}"


def _pytest(
    session: nox.Session,
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    posargs: list[str] | None = None,
) -> None:
    """pytest with the JUnit XML of run ``name``, then ``args``, then ``posargs`` (the session's, unless given)."""
    extra = session.posargs if posargs is None else posargs
    session.run("python", "-m", "pytest", *_junit(name), *args, *extra, env=env)


def _junit_property_sum(junit: Path, name: str) -> int:
    """The sum of the test-case property ``name`` over a JUnit XML report."""
    root = ElementTree.parse(junit).getroot()  # noqa: S314 - our own report
    return sum(int(p.get("value", 0)) for p in root.iter("property") if p.get("name") == name)


def _go_test(session: nox.Session, name: str, module: str, *go_args: str, env: dict[str, str] | None = None) -> None:
    """``go test ./...`` in one module through gotestsum (JUnit XML); no test run is a failure."""
    REPORTS.mkdir(exist_ok=True)
    junit = REPORTS / f"{name}.xml"
    with session.chdir(GALAXY / module):
        session.run(
            *("go", "run", GOTESTSUM, f"--junitfile={junit}", "--format=pkgname-and-test-fails"),
            *("--", *go_args, "./...", *session.posargs),
            external=True,
            env=env,
        )
    ran = sum(int(suite.get("tests", 0)) for suite in ElementTree.parse(junit).getroot().iter("testsuite"))  # noqa: S314 - our own report
    if ran == 0:
        session.error(f"{name}: no Go test ran")
    session.log(f"{name}: {ran} Go tests passed")


MYPY_FILES = ["harness", "contracts", "tests", "noxfile.py", "scripts", "noxw"]
"""What mypy checks besides every suite (the registry's)."""


@nox.session(python=PYTHON, tags=["rules"], default=False)
def rules(session: nox.Session) -> None:
    """Rule coverage: which scenarios verify each rule of the contracts, by transport, from every suite collected.

    The rule index (reports/rules.json) and, from every suite collected without running a service, the scenarios
    that name each rule (reports/rule-coverage.{json,md}); fails while a rule is neither verified on each transport
    it applies to nor marked unobservable, unless told ``-- --report-only``.
    """
    args = list(session.posargs)
    strict = "--report-only" not in args
    args = [a for a in args if a != "--report-only"]
    _sync(session, "schemathesis")
    session.run("python", "-m", "harness.gates.rules")
    # A suite's schemathesis tests are collected only under a marker expression that names them.
    session.run(
        *("python", "-m", "pytest", "--collect-only", "-qq", "-p", "no:randomly", *SUITE_PATHS),
        *("-m", "schemathesis or not schemathesis", *(["--require-rule-coverage"] if strict else []), *args),
    )


@nox.session(python=PYTHON, tags=["lint", "ci"])
def lint(session: nox.Session) -> None:
    """Lint: ruff, mypy (every suite too), go vet, gofmt, the black-box check, generated code and actionlint.

    ruff check and ruff format --check; mypy --strict over harness, contracts, tests, scripts, the noxfile and every
    registered suite; scripts/check_blackbox.py (no Python reads a service's internals); scripts/protogen.py --check
    (the code generated from proto/ is current); the rule index (every rule of the contracts has an id, each id
    once: python -m harness.gates.rules); the mutation catalogues against it (python -m harness.mutation.coverage:
    every rule not marked unobservable has a mutant, or a gap saying why none can break it, and every mutant names
    a rule of the index and applies to the workspace); actionlint of .github/workflows/ci.yml; go vet in every
    module of the Go workspace; gofmt -l.
    """
    _sync(session, "lint", "proto")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *MYPY_FILES, *SUITE_PATHS)
    session.run("python", "scripts/check_blackbox.py")
    session.run("python", "-m", "harness.gates.rules")  # every rule of the contracts has an id, each id once
    session.run("python", "-m", "harness.mutation.coverage")  # every rule has a mutant, or a gap saying why not
    session.run("python", "scripts/protogen.py", "--check")
    session.run("go", "run", ACTIONLINT, ".github/workflows/ci.yml", external=True)
    for module in GO_MODULES:
        with session.chdir(GALAXY / module):
            session.run("go", "vet", "./...", external=True)
    for tool in TOOL_MODULES:
        with session.chdir(tool):
            session.run("go", "vet", "./...", external=True, env={"GOWORK": "off"})
    unformatted = session.run("gofmt", "-l", str(GALAXY), *map(str, TOOL_MODULES), external=True, silent=True)
    if unformatted and unformatted.strip():
        session.error(f"gofmt would change:\n{unformatted}")


@nox.session(venv_backend="none", tags=["ci"])
def breaking(session: nox.Session) -> None:
    """Contract gates against BASE, before any process starts: buf breaking of proto/, oasdiff of the OpenAPI.

    ``buf breaking`` of proto/ under the WIRE_JSON rules and ``oasdiff breaking --fail-on ERR`` of the gateway's
    OpenAPI document, each against the same files at BASE (``GALAXY_SKEW_BASE=<ref>``, else the merge-base with
    main; on main itself the commit before HEAD); both tools pinned in harness/builds/tools.py
    (harness/gates/breaking.py). An OpenAPI finding listed in contracts/gatewayv1/openapi-accepted-changes.txt
    (oasdiff's --err-ignore format), each with its reason, is reported as accepted; any other fails. Findings in
    reports/breaking.xml.
    """
    session.run(
        *(sys.executable, "-m", "harness.gates.breaking", "--proto", "proto"),
        *("--openapi", "galaxy/gateway/api/openapi/openapi.json"),
        *(
            "--openapi-accepted",
            "contracts/gatewayv1/openapi-accepted-changes.txt",
            f"--junit={REPORTS / 'breaking.xml'}",
        ),
        *session.posargs,
    )


@nox.session(venv_backend="none", tags=["build"], default=False)
def build(session: nox.Session) -> None:
    """Build the service binaries into .cache/bin and the pinned Go tools into .cache/tools, reused by every session.

    The binaries are cached by a content hash of the Go workspace, its Go release and flags, shared by every run
    and xdist worker; the tools (the fault proxy toxiproxy, buf, oasdiff) are pinned in harness/builds/tools.py.
    ``-- NAME``: only that command (``python -m harness.builds.binary --help``).
    """
    _preflight(session)
    session.run(sys.executable, "-m", "harness.builds.binary", *session.posargs)
    session.run(sys.executable, "-m", "harness.builds.tools")


def _suite_session(suite: Suite) -> None:
    """Register ``nox -s <suite>``: the suite in parallel (pytest-xdist), JUnit XML in reports/<suite>.xml; given
    test ids of it (as a failure bundle's rerun.sh gives them), only those."""

    def run(session: nox.Session) -> None:
        _preflight(session)
        _sync(session, "test")
        _pytest(session, suite.name, "-n", "auto", posargs=_suite_args(session, [suite.name]))

    run.__doc__ = f"""{suite.description} In parallel (pytest-xdist); JUnit XML in reports/{suite.name}.xml.

    ``-n auto`` is two workers per CPU (its scenarios mostly wait; PYTEST_XDIST_AUTO_NUM_WORKERS overrides); each
    worker takes the next test as it frees up, the tests marked ``waits`` or recorded as long
    ({suite.name}/durations.json) first. A failing test leaves a bundle in reports/failures/ (the README's "When a
    test fails"). Given test ids (``-- '{suite.name}/test_x.py::test_y'``, as a bundle's rerun.sh does), only those;
    ``-- --shard K/N``: one of N shards, balanced by the recorded durations (``-- --record-durations`` records them).
    """
    nox.session(name=suite.name, python=PYTHON, tags=["suite", "ci"], default=False)(run)  # run by regression


def _suite_args(session: nox.Session, suites: list[str], args: list[str] | None = None) -> list[str]:
    """``[*suites, *args]`` (``args``: the session's), unless ``args`` name tests of the suites, with or without
    their folder (as a failure bundle's rerun.sh does): then only those (harness/suites/testids.py)."""
    try:
        return testids.suite_args(session.posargs if args is None else args, suites, ROOT)
    except testids.TestIdError as exc:
        session.error(str(exc))


for _suite in SUITES:
    _suite_session(_suite)


@nox.session(python=PYTHON, tags=["deep"], default=False)
def deep(session: nox.Session) -> None:
    """Opt-in: every suite's Hypothesis-driven tests (generated inputs, the model) under the deep profile.

    The profile ``galaxy-deep`` (harness/suites/hypothesis_profiles.py: 300 examples, up to 50 steps), some
    minutes; JUnit XML in reports/deep.xml.
    """
    _preflight(session)
    _sync(session, "test")
    _pytest(session, "deep", *SUITE_PATHS, "-m", "hypothesis", "-n", "auto", "--hypothesis-profile=galaxy-deep")


@nox.session(python=PYTHON, tags=["schemathesis", "ci"])
def schemathesis(session: nox.Session) -> None:
    """Schemathesis against the gateway's served OpenAPI document, on real stacks, within a bounded budget.

    Every operation, on a stack of its own, with the document's examples, boundary values and random inputs,
    valid and invalid, then scenarios along the document's links (start, confirm with the mailed code, me,
    sessions, refresh, revoke, logout), every schemathesis check on every answer (gatewayauthsession/openapi/,
    collected only under ``-m schemathesis``). Budget: the Hypothesis profile ``schemathesis``, 30 examples per
    operation and phase and 10 steps per scenario; ``-- --deep`` runs ``schemathesis-deep``, 300 x 20 (some
    minutes). The cases each test ran, by operation and status, are properties in reports/schemathesis.xml; a run
    in which no case ran fails. Given test ids (as a failure bundle's rerun.sh does), only those.
    """
    _preflight(session)
    args = list(session.posargs)
    deep = "--deep" in args
    args = [a for a in args if a != "--deep"]
    _sync(session, "schemathesis")
    profile = "schemathesis-deep" if deep else "schemathesis"
    _pytest(
        session,
        "schemathesis",
        *("-m", "schemathesis", "-n", "2", f"--hypothesis-profile={profile}"),
        "--rerun-command=./noxw -s schemathesis --",  # a failure's rerun.sh needs this session's dependencies
        posargs=_suite_args(session, SUITE_PATHS, args),
    )
    cases = _junit_property_sum(REPORTS / "schemathesis.xml", "cases")
    if cases == 0:
        session.error("schemathesis: no case ran")
    session.log(f"schemathesis: {cases} cases passed")


SKEWS = [(suite.name, service.name) for suite in SUITES for service in suite.topology().services]


@nox.session(python=PYTHON, tags=["skew", "ci"], default=False)
@nox.parametrize(("suite", "older"), SKEWS, ids=[f"{suite}:{older}-at-base" for suite, older in SKEWS])
def skew(session: nox.Session, suite: str, older: str) -> None:
    """Mixed versions: a suite of the working tree with one service built from BASE (``nox -t skew``: all).

    ``older`` is built from BASE (``GALAXY_SKEW_BASE=<ref>``, else the merge-base with main; on main itself the
    commit before HEAD), every other service from the working tree; the run's header says which is which. A
    scenario for behaviour newer than BASE carries ``@pytest.mark.since("<commit or a path the change added>")``
    and is skipped under an older service, with its reason in the summary, never silently.
    """
    _preflight(session, base=True)
    _sync(session, "test")
    _pytest(session, f"skew-{suite}-{older}-at-base", suite, "-n", "auto", f"--service-ref={older}=BASE")


@nox.session(python=PYTHON, tags=["robustness", "ci"])
def robustness(session: nox.Session) -> None:
    """Concurrent histories under a nemesis, checked: about a minute; below its throughput floor it fails.

    For every suite with a workload (<suite>/robustness.py), a round per profile on a fresh stack with every edge
    through the fault proxy: clients calling it at random over HTTP and gRPC while every fault the harness has is
    injected from the run's seed, each round's history judged against the session model and the invariants
    (harness/robustness/runner.py). Options after ``--``: ``--seed N`` replays a run, ``--schedule NAME`` picks the
    faults, ``--deep`` runs every schedule, longer. Histories and pages in reports/robustness/; the floor and the
    throughput reached in BENCHMARKS.md.
    """
    _preflight(session)
    _sync(session, "test")
    ran = False
    for suite in SUITES:
        if not suite.workload.is_file():
            session.log(f"robustness: {suite.name} has no workload ({suite.name}/robustness.py)")
            continue
        ran = True
        session.run("python", "-m", "harness.robustness", "--suite", suite.name, *session.posargs)
    if not ran:
        session.error("robustness: no suite has a workload")


@nox.session(python=PYTHON, tags=["harness", "ci"])
def harness(session: nox.Session) -> None:
    """The harness's own tests (tests/harness/), among them the proof that a declared boundary gets every capability.

    Given test files or ids under tests/harness/, only those. One renders a failure timeline in headless Chromium
    (Debian's chromium, which .ci/install-packages installs; ``$CHROMIUM`` names another): without it that test
    skips, saying why, and under ``CI=true`` it fails.
    """
    _preflight(session)
    _sync(session, "test")
    # The pinned Go tools some tests run, built before any test's timeout.
    session.run("python", "-m", "harness.builds.tools")
    for tool in TOOL_MODULES:  # the harness's own Go tools prove themselves first
        with session.chdir(tool):
            session.run("go", "test", "-count=1", "./...", external=True, env={"GOWORK": "off"})
    _pytest(session, "harness", "-n", "auto", posargs=_suite_args(session, ["tests/harness"]))


def _interpreter(session: nox.Session, version: str) -> str | None:
    """A working ``python<version>``: on PATH, else pyenv's build of it; None when neither exists."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}")]
    candidates += [str(p) for p in sorted(pyenv.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)]
    for candidate in filter(None, candidates):
        # A pyenv shim is on PATH even when it has no such version to run: ask it which it is.
        probe = session.run(
            *(candidate, "-c", "import sys; print('VERSION %d.%d' % sys.version_info[:2])"),
            silent=True,
            external=True,
            success_codes=range(256),
        )
        if f"VERSION {version}" in str(probe).splitlines():
            return candidate
    return None


@nox.session(venv_backend="none", tags=["interpreters", "ci"], default=False)
@nox.parametrize("version", OTHER_PYTHONS, ids=OTHER_PYTHONS)
def harness_on(session: nox.Session, version: str) -> None:
    """The harness tests on another Python that requires-python allows, in a venv of its own (skips without one).

    python<version> from PATH, else from pyenv, with the locked dependencies; a machine without that Python says
    so and skips the session.
    """
    python = _interpreter(session, version)
    if python is None:
        session.skip(f"no Python {version} on this machine (neither python{version} on PATH nor in pyenv)")
    venv = ROOT / ".nox" / f"harness_on-{version}"
    uv = (sys.executable, "-m", "uv")
    session.run(*uv, "venv", "--quiet", "--allow-existing", "--python", python, str(venv), external=True)
    session.run(
        *(*uv, "sync", "--locked", "--no-default-groups", "--group", "test", "--quiet", "--compile-bytecode"),
        env={"UV_PROJECT_ENVIRONMENT": str(venv)},
        external=True,
    )
    session.run(
        *(str(venv / "bin" / "python"), "-m", "pytest", *_junit(f"harness_on-{version}")),
        *("tests/harness", "-n", "auto", *session.posargs),
        external=True,
    )


@nox.session(venv_backend="none", tags=["go", "ci"], default=False)  # run by regression
@nox.parametrize("module", GO_MODULES, ids=GO_MODULES)
def go_test(session: nox.Session, module: str) -> None:
    """Module-scoped ``go test ./...`` of one module of the Go workspace, through gotestsum (JUnit XML)."""
    _go_test(session, f"go_test-{module}", module, "-count=1")


@nox.session(python=PYTHON, tags=["toolchains", "ci"], default=False)
@nox.parametrize("toolchain", OTHER_GO_TOOLCHAINS, ids=OTHER_GO_TOOLCHAINS)
def toolchain(session: nox.Session, toolchain: str) -> None:
    """Every module's Go tests, then every suite, built by another supported Go release (GOTOOLCHAIN).

    The go command fetches that release through the Go module proxy; go.mod's own is go1.26.8, and go1.25
    cannot build the dependencies (go-redis v9.23.0 needs go1.26).
    """
    _preflight(session)
    env = {"GOTOOLCHAIN": toolchain}
    session.run("go", "version", external=True, env=env)
    for module in GO_MODULES:
        _go_test(session, f"toolchain-{toolchain}-go_test-{module}", module, "-count=1", env=env)
    _sync(session, "test")
    for suite in SUITE_PATHS:
        _pytest(session, f"toolchain-{toolchain}-{suite}", suite, "-n", "auto", env=env)


def _compat_modules() -> list[str]:
    """The modules with compatibility tests (``func Test...Compatibility``): what a service produces for the others."""
    pattern = re.compile(r"^func Test\w*Compatibility\w*\(", re.MULTILINE)
    return [m for m in GO_MODULES if any(pattern.search(f.read_text()) for f in (GALAXY / m).rglob("*_test.go"))]


@nox.session(venv_backend="none", tags=["go", "ci"], default=False)  # run by regression
def compat(session: nox.Session) -> None:
    """The compatibility tests (``-run Compatibility``) of every module that has them: outputs held to their contracts.

    What each service produces (tokens, Redis records, wire answers) matches the contract its peers read.
    """
    for module in _compat_modules():
        _go_test(session, f"compat-{module}", module, "-count=1", "-run", "Compatibility")


@nox.session(venv_backend="none", requires=[*SUITE_PATHS, *(f"go_test({module})" for module in GO_MODULES), "compat"])
def regression(session: nox.Session) -> None:
    """The regression set: every boundary suite, every module's Go tests and the compatibility tests."""
    session.log("regression: suites, Go module tests and compatibility tests all passed")


@nox.session(python=PYTHON, tags=["suite", "ci", "redis"])
def real_redis(session: nox.Session) -> None:
    """Every suite's smoke scenarios (``-m smoke``) against the Redis at INTEGRATION_REAL_REDIS_ADDR; skips when unset.

    Redis 7.0 or later; each stack gets a key prefix of its own and its keys are deleted after.
    """
    if not os.environ.get("INTEGRATION_REAL_REDIS_ADDR"):
        session.skip("INTEGRATION_REAL_REDIS_ADDR is not set; set it to host:port of a Redis to run this session")
    _preflight(session, real_redis=True)
    _sync(session, "test")
    _pytest(session, "real_redis", *SUITE_PATHS, "-m", "smoke", "--redis-backend=real", "-n", "auto")


@nox.session(python=PYTHON, tags=["coverage"], default=False)
def coverage(session: nox.Session) -> None:
    """Opt-in: every suite against -cover builds; merged per-package Go coverage in reports/coverage/.

    reports/coverage/coverage.txt and coverage.html, the percentages in percent.txt.
    """
    _preflight(session)
    out = REPORTS / "coverage"
    raw = out / "raw"
    shutil.rmtree(out, ignore_errors=True)
    _sync(session, "test")
    _pytest(
        session,
        "coverage",
        *SUITE_PATHS,
        "-n",
        "auto",
        "--build-mode=cover",
        f"--coverage-dir={raw}",
    )
    dirs = ",".join(str(d) for d in sorted(raw.iterdir()) if any(d.iterdir()))
    if not dirs:
        session.error("no service process wrote coverage counters: did they shut down gracefully?")
    merged = out / "merged"
    merged.mkdir()
    session.log(f"merging the counters of {dirs.count(',') + 1} service processes into {merged}")
    session.run("go", "tool", "covdata", "merge", f"-i={dirs}", f"-o={merged}", external=True)
    with session.chdir(GALAXY):
        percent = session.run("go", "tool", "covdata", "percent", f"-i={merged}", external=True, silent=True)
        session.run("go", "tool", "covdata", "textfmt", f"-i={merged}", f"-o={out / 'coverage.txt'}", external=True)
        session.run(
            "go", "tool", "cover", f"-html={out / 'coverage.txt'}", f"-o={out / 'coverage.html'}", external=True
        )
    print(percent)
    (out / "percent.txt").write_text(str(percent))
    covered = [line for line in str(percent).splitlines() if "coverage:" in line and " 0.0%" not in line]
    if not covered:
        session.error("every package reports 0.0% coverage: the counters were not flushed")
    session.log(f"coverage: {out / 'coverage.txt'} and {out / 'coverage.html'}")


@nox.session(python=PYTHON, tags=["race"], default=False)
def race(session: nox.Session) -> None:
    """Opt-in: every suite against -race builds; a DATA RACE in a service log fails the test that caused it."""
    _preflight(session)
    _sync(session, "test")
    _pytest(session, "race", *SUITE_PATHS, "-n", "auto", "--build-mode=race")


# A CPU hog for ``flakes --stress``: busy until its time is up (bounded, and killed when the runs end). Its bound
# grows with the runs asked for, so that the last of many runs is loaded as the first was.
_HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
_HOG_LIMIT_PER_RUN_S = 600


@nox.session(python=PYTHON, tags=["flakes"], default=False)
def flakes(session: nox.Session) -> None:
    """Opt-in: every suite N times in a new random order each (``-- 10``); any failure fails.

    ``-- 10 --stress`` runs them beside a CPU hog (``--stress=2``: two), to show the suite's deadlines and waits
    hold on a loaded machine; more arguments go to pytest. pytest-randomly shuffles every run of every session;
    ``-p no:randomly`` keeps file order.
    """
    _preflight(session)
    args = list(session.posargs)
    hogs_asked = [a for a in args if a == "--stress" or a.startswith("--stress=")]
    args = [a for a in args if a not in hogs_asked]
    stress = bool(hogs_asked)
    try:
        hog_count = int(hogs_asked[-1].partition("=")[2] or 1) if stress else 0
    except ValueError:
        session.error(f"{hogs_asked[-1]}: want --stress or --stress=N")
    count_given = bool(args) and args[0].isdigit()
    runs = int(args[0]) if count_given else 5
    passthrough = args[1:] if count_given else args
    _sync(session, "test")
    hogs: list[subprocess.Popen[bytes]] = []
    if stress:
        cores = len(os.sched_getaffinity(0))
        hog_limit_s = runs * _HOG_LIMIT_PER_RUN_S
        session.log(
            f"flakes: {hog_count} CPU hog(s) beside the runs, on {cores} core(s) "
            f"(each stops after {hog_limit_s} s at the latest)"
        )
        hogs = [subprocess.Popen([sys.executable, "-c", _HOG, str(hog_limit_s)]) for _ in range(hog_count)]
    try:
        for run in range(1, runs + 1):
            session.log(f"flakes: run {run} of {runs}" + (" (under CPU stress)" if stress else ""))
            session.run(
                "python",
                "-m",
                "pytest",
                *SUITE_PATHS,
                "-n",
                "auto",
                "-q",
                f"--randomly-seed={random.randrange(2**32)}",
                *_junit(f"flakes-{run}"),
                *passthrough,
            )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def _mutation_tests(suite: str) -> list[str]:
    """What each mutant is tested with: the suite, fail-fast, in file order; not the scenarios marked
    ``outside_mutation`` (a rolling upgrade builds BASE from the repository's history, which a workspace copy has
    not got; the ``up`` tool's own tests), Hypothesis not shrinking a failure (``galaxy-mutation``: whether a test
    fails is all a mutant's verdict needs), in a temporary directory of its own (``_basetemp``)."""
    return [
        *("python", "-m", "pytest", suite, "-x", "-q", "-n", "auto", "-p", "no:randomly"),
        *("-m", "not outside_mutation", "--hypothesis-profile=galaxy-mutation", _basetemp(f"mutation-{suite}")),
    ]


MUTATION_ROBUSTNESS_SEED = 1
"""The seed of the robustness runs that test the concurrency mutants: the same faults at the same times for each."""


def _mutation_commands(suite: Suite) -> list[str]:
    """The commands of its own a suite's mutants may name (``killed_by``): the robustness run, for a suite with a
    workload (its concurrency mutants), without a throughput floor (a slow run is no finding either way)."""
    if not suite.workload.is_file():
        return []
    out = ROOT / ".cache" / "mutation" / "robustness"
    run = f"python -m harness.robustness --suite {suite.name} --seed {MUTATION_ROBUSTNESS_SEED} --floor 0 --out {out}"
    return [f"--command=robustness={run}"]


def _suites_asked(session: nox.Session, args: list[str]) -> tuple[list[str], list[Suite]]:
    """``--suite NAME`` (or ``--suite=NAME``, repeatable) taken out of ``args``: the suites it names, every
    registered one without it."""
    names: list[str] = []
    rest: list[str] = []
    given = iter(args)
    for arg in given:
        if arg == "--suite":
            names.append(next(given, ""))
        elif arg.startswith("--suite="):
            names.append(arg.partition("=")[2])
        else:
            rest.append(arg)
    unknown = [name for name in names if name not in SUITE_PATHS]
    if unknown:
        session.error(f"--suite {', '.join(unknown)}: not a registered suite; the suites: {', '.join(SUITE_PATHS)}")
    return rest, [suite for suite in SUITES if not names or suite.name in names]


@nox.session(python=PYTHON, tags=["mutation"], default=False)
def mutation(session: nox.Session) -> None:
    """Opt-in: each suite's mutants (<suite>/mutants.toml) against it; reports/mutation-<suite>.md; fails below 95%.

    Each mutant (the one-line mistake that breaks one rule of the contracts: the rule's id, a file of the Go
    workspace, an exact fragment, its replacement and what the mistake does; grouped by the rule's document, beside
    a [gaps] table of the rules no mutant can break and why) is applied to a copy of the workspace, checked to
    build and vet, then the suite runs against it, fail-fast, first the tests that killed it last time
    (.cache/mutation/killers.json; on a fresh checkout, those of <suite>/mutation-killers.json), then the
    scenarios that name its rule. A mutant that
    names a command of its own (``killed_by = "robustness"``: a concurrency mutant, which one story at a time
    cannot see) is tested by that command instead: the robustness run, from a fixed seed; one no black-box test
    can see says why (``unobservable``). Killed, survived, timeout or invalid: a table on the terminal,
    reports/mutation-<suite>.md (the score, overall and by contract document, each survivor with its rule and the
    rule's text) and reports/mutation-<suite>.xml (harness/mutation/runner.py). Options after ``--``: ``--suite
    NAME`` (that suite's catalogue only; repeatable), ``--only ID,ID``, ``--rules PREFIX,PREFIX`` (the mutants of
    those rules), ``--document PATH`` (of the rules a document states: ``--document tokens.md``), ``--list``,
    ``--budget SECONDS`` (per mutant), ``--no-baseline``, ``--first-only`` (a quick pass: the tests run first only,
    so each survivor is one its rule's scenarios miss; the score a lower bound), ``--with default`` (every mutant
    against the suite, to see what it lets through), ``--work DIR`` (the workspace copy's folder, when another run
    holds the default).
    """
    args, wanted = _suites_asked(session, list(session.posargs))
    _preflight(session)
    _sync(session, "test")
    for suite in wanted:
        if not suite.mutants.is_file():
            session.log(f"mutation: {suite.name} has no catalogue ({suite.mutants.relative_to(ROOT)})")
            continue
        session.run(
            *("python", "-m", "harness.mutation", f"--catalogue={suite.mutants.relative_to(ROOT)}"),
            f"--seed-killers={suite.killers.relative_to(ROOT)}",
            "--first-args=-n 0",
            f"--report={REPORTS / f'mutation-{suite.name}.md'}",
            f"--junit={REPORTS / f'mutation-{suite.name}.xml'}",
            *_mutation_commands(suite),
            *args,
            "--",
            *_mutation_tests(suite.name),
        )


@nox.session(python=PYTHON, tags=["up"], default=False)
def up(session: nox.Session) -> None:
    """Opt-in: raise a stack of a suite to explore by hand, print its endpoints and each stub request, until Ctrl-C.

    After ``--``: the suite (the first registered one if none), settings and links:
    ``nox -s up -- gatewayauthsession --set code_ttl=1m --links all``; its logs stay in reports/up/.
    """
    _preflight(session)
    _sync(session, "test")
    session.run("python", "-m", "harness.topology.explore", *session.posargs)


@nox.session(venv_backend="none", tags=["scaffold"], default=False)
def scaffold(session: nox.Session) -> None:
    """Write a new boundary suite and register it: ``-- NAME --services a,b`` (harness/suites/scaffold.py).

    Its package: the declaration, read from the services' documented variables and the registered suites' (a
    TODO where a person must choose), a conftest and one scenario; registered in pyproject.toml, so
    ``nox -s NAME`` runs it.
    """
    session.run(sys.executable, "-m", "harness.suites.scaffold", *session.posargs)


@nox.session(python=PYTHON, tags=["scaffold", "ci"])
def scaffold_check(session: nox.Session) -> None:
    """The scaffold end to end in a scratch copy of the working tree: its suite passes its session and lint.

    A suite of user and authsession written by ``nox -s scaffold`` with no TODO left, then its own session and
    ``lint`` run in the copy (tests/scaffold/; some minutes).
    """
    _sync(session, "test")
    _pytest(session, "scaffold_check", "tests/scaffold", "-p", "no:randomly", "-s")


@nox.session(python=PYTHON, tags=["proto"], default=False)
def proto(session: nox.Session) -> None:
    """Regenerate Go and Python code from proto/ (``-- --check``: fail if the committed code is stale)."""
    _sync(session, "proto")
    session.run("python", "scripts/protogen.py", *session.posargs)


@nox.session(python=PYTHON, tags=["bench"], default=False)
def bench(session: nox.Session) -> None:
    """Opt-in benchmarks, results in BENCHMARKS.md (``-- --quick``, ``--only stack,build``).

    Stack start-up, ServiceProcess beside mirakuru and a 100 ms poll loop, the suite against its floor, a proxied
    stack and the fault scenarios, nox overhead, builds, fakeredis vs Redis, the failure forensics' cost; options
    go to scripts/bench.py (its sections are in scripts/benchlib/).
    """
    _sync(session, "bench")
    session.run("python", "scripts/bench.py", f"--nox-python={sys.executable}", *session.posargs)
