"""A -cover build run by the harness flushes non-zero coverage counters when
it is stopped gracefully (SIGTERM, return from main)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from harness.builds.binary import build
from harness.processes.service import ServiceProcess

MAIN = """package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	doc := fmt.Sprintf(`{"service":"demo","pid":%d,"addresses":{}}`, os.Getpid())
	path := os.Getenv("DEMO_READY_FILE")
	if err := os.WriteFile(path+".tmp", []byte(doc), 0o600); err != nil {
		panic(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		panic(err)
	}
	<-ctx.Done()
}
"""


def test_a_gracefully_stopped_cover_build_writes_nonzero_coverage(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    cmd = workspace / "authsession" / "cmd" / "authsession"
    cmd.mkdir(parents=True)
    (workspace / "go.work").write_text("go 1.26\n\nuse ./authsession\n")
    (workspace / "authsession" / "go.mod").write_text("module galaxy/authsession\n\ngo 1.26\n")
    (cmd / "main.go").write_text(MAIN)
    binary = build("authsession", "cover", root=workspace, cache_dir=tmp_path / "cache")

    coverdir = tmp_path / "cov"
    proc = ServiceProcess(
        "demo", [str(binary.path)], env={}, workdir=tmp_path / "run", ready_env="DEMO_READY_FILE", coverdir=coverdir
    )
    proc.start()
    assert proc.stop() == 0

    assert list(coverdir.glob("covcounters.*")), f"no counters flushed; {coverdir} holds {os.listdir(coverdir)}"
    percent = subprocess.run(
        ["go", "tool", "covdata", "percent", f"-i={coverdir}"], capture_output=True, text=True, check=True
    ).stdout
    figures = [float(f) for f in re.findall(r"coverage: ([0-9.]+)% of statements", percent)]
    assert figures, percent
    assert max(figures) > 0, percent
