"""Generate Go and Python code from the .proto sources under proto/.

    python scripts/protogen.py           # regenerate in place
    python scripts/protogen.py --check   # fail if committed code is stale

protoc comes from grpcio-tools; the Go plugins are installed at pinned
versions into .cache/bin. Python code lands in contracts/<name>v1/ with its
imports made package-relative; Go code lands in galaxy/<service>/api/<name>v1/.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
GO_PLUGINS = {
    "protoc-gen-go": "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12",
    "protoc-gen-go-grpc": "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2",
}
# proto package directory -> (Go module directory, Python package directory)
CONTRACTS = {
    "galaxy/authsession/v1": ("galaxy/authsession/api/authsessionv1", "contracts/authsessionv1/_pb"),
    "galaxy/gateway/v1": ("galaxy/gateway/api/gatewayv1", "contracts/gatewayv1/_pb"),
}
GENERATED_SUFFIXES = (".pb.go", "_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def go_plugins(bin_dir: Path) -> dict[str, Path]:
    env = {**os.environ, "GOBIN": str(bin_dir), "GOWORK": "off"}
    paths = {}
    for name, pkg in GO_PLUGINS.items():
        subprocess.run(["go", "install", pkg], check=True, env=env, cwd=ROOT)
        paths[name] = bin_dir / name
    return paths


def protoc(*args: str) -> None:
    from grpc_tools import protoc as grpc_protoc  # imported late: only this script needs it

    include = Path(grpc_protoc.__file__).parent / "_proto"
    argv = ["protoc", f"-I{PROTO}", f"-I{include}", *args]
    if grpc_protoc.main(argv) != 0:
        sys.exit(f"protoc failed: {' '.join(argv)}")


def relative_imports(text: str, proto_pkg: str) -> str:
    """Rewrite ``from galaxy.x.v1 import y_pb2`` into ``from . import y_pb2``.

    Only import statements change: the serialized descriptors in ``*_pb2.py``
    name the proto package too and must stay as they are.
    """
    dotted = re.escape(proto_pkg.replace("/", "."))
    return re.sub(rf"^from {dotted} import ", "from . import ", text, flags=re.M)


def generate(out: Path, bin_dir: Path) -> None:
    plugins = go_plugins(bin_dir)
    for proto_pkg, (go_dir, py_dir) in CONTRACTS.items():
        sources = sorted(str(p.relative_to(PROTO)) for p in (PROTO / proto_pkg).glob("*.proto"))
        go_out = out / "go"
        go_out.mkdir(parents=True, exist_ok=True)
        protoc(
            f"--plugin=protoc-gen-go={plugins['protoc-gen-go']}",
            f"--plugin=protoc-gen-go-grpc={plugins['protoc-gen-go-grpc']}",
            f"--go_out={go_out}",
            "--go_opt=module=galaxy",
            f"--go-grpc_out={go_out}",
            "--go-grpc_opt=module=galaxy",
            *sources,
        )
        py_out = out / "py"
        py_out.mkdir(parents=True, exist_ok=True)
        venv_bin = Path(sys.executable).parent
        protoc(
            f"--plugin=protoc-gen-mypy={venv_bin / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={venv_bin / 'protoc-gen-mypy_grpc'}",
            f"--python_out={py_out}",
            f"--grpc_python_out={py_out}",
            f"--mypy_out={py_out}",
            f"--mypy_grpc_out={py_out}",
            *sources,
        )
        target = out / "tree" / py_dir
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted((py_out / proto_pkg).iterdir()):
            (target / f.name).write_text(relative_imports(f.read_text(), proto_pkg))
        (target / "__init__.py").write_text('"""Code generated from proto/ by scripts/protogen.py. DO NOT EDIT."""\n')
        shutil.copytree(go_out / go_dir.removeprefix("galaxy/"), out / "tree" / go_dir, dirs_exist_ok=True)


def generated_files(tree: Path) -> set[str]:
    found = set()
    for _, (go_dir, py_dir) in CONTRACTS.items():
        for d in (go_dir, py_dir):
            base = tree / d
            if base.is_dir():
                found |= {str(p.relative_to(tree)) for p in base.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}
                if (base / "__init__.py").exists():
                    found.add(str((base / "__init__.py").relative_to(tree)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed code differs")
    args = parser.parse_args()
    bin_dir = ROOT / ".cache" / "bin"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out, bin_dir)
        fresh, current = generated_files(out / "tree"), generated_files(ROOT)
        if args.check:
            stale = sorted(
                f
                for f in fresh | current
                if f not in fresh or f not in current or not filecmp.cmp(out / "tree" / f, ROOT / f, shallow=False)
            )
            if stale:
                print("generated code is stale; run `nox -s proto`:", *stale, sep="\n  ")
                return 1
            print(f"generated code is current ({len(fresh)} files)")
            return 0
        for f in current - fresh:
            (ROOT / f).unlink()
        for f in sorted(fresh):
            (ROOT / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "tree" / f, ROOT / f)
        print(f"generated {len(fresh)} files")
        return 0


if __name__ == "__main__":
    sys.exit(main())
