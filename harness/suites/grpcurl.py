"""grpcurl command lines that work as printed, for a person exploring a stack.

A service need not serve reflection, and no ``.proto`` path need be right where the
line is pasted: :func:`grpcurl_prefix` writes the services' descriptors (and every
file they import) as a protoset, and names it and the pinned grpcurl
(:mod:`harness.builds.tools`) by their absolute paths.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.builds.tools import go_tool

if TYPE_CHECKING:
    from google.protobuf.descriptor_pb2 import FileDescriptorProto

__all__ = ["FileDescriptor", "grpcurl_prefix", "write_protoset"]


class FileDescriptor(Protocol):
    """A ``.proto`` file's descriptor (``<module>_pb2.DESCRIPTOR``), of protobuf's pure-Python or upb build."""

    @property
    def name(self) -> str: ...

    @property
    def dependencies(self) -> Sequence[FileDescriptor]: ...

    def CopyToProto(self, proto: FileDescriptorProto, /) -> None: ...


def write_protoset(path: Path, *files: FileDescriptor) -> Path:
    """Write ``files`` and every file they import, each once and after its imports, as a
    ``FileDescriptorSet`` at ``path`` (what ``grpcurl -protoset`` reads); returns ``path``."""
    from google.protobuf import descriptor_pb2

    protoset = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for imported in file.dependencies:
            add(imported)
        file.CopyToProto(protoset.file.add())

    for file in files:
        add(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(protoset.SerializeToString())
    return path


def grpcurl_prefix(protoset: Path, *files: FileDescriptor) -> str:
    """``<pinned grpcurl> -plaintext -protoset <protoset>``, the protoset of ``files`` written first."""
    written = write_protoset(protoset, *files).resolve()
    return shlex.join([str(go_tool("grpcurl")), "-plaintext", "-protoset", str(written)])
