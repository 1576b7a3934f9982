"""A failure timeline's page as a person sees it: rendered by headless
Chromium, with its script run, the hops and the failing step are on it.

Needs the Debian package ``chromium`` (``.ci/install-packages`` installs
it); without it the test skips, saying so, except under ``CI=true``, where it
fails, so that CI never passes it without looking."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_timeline import T0, TRACE, login_hops

from harness.forensics.timeline import Timeline
from harness.forensics.timeline_html import render_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$CHROMIUM``, else the first of BROWSERS on PATH."""
    if given := os.environ.get("CHROMIUM"):
        return given
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        reason = f"no headless browser: none of {', '.join(BROWSERS)} on PATH, nor $CHROMIUM (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"]
    argv += ["--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=2000", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


class _Text(HTMLParser):
    """The text of the rendered DOM, and each element's classes with the text inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.open: list[tuple[str, str]] = []
        self.by_class: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append((tag, dict(attrs).get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _, classes in self.open:
            if classes:
                self.by_class.setdefault(classes, []).append(data)


def test_the_rendered_page_shows_every_hop_and_the_failing_step(chromium: str, tmp_path: Path) -> None:
    timeline = Timeline.merge(login_hops(), failed_at=T0 + 0.2, trace_id=TRACE, title="t.py::test_refused")
    page = tmp_path / "timeline.html"
    page.write_text(render_html(timeline))

    done = headless(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr
    dom = _Text()
    dom.feed(done.stdout)
    text = " ".join(dom.text)
    # The summary is written by the page's script: the DOM is the one a person sees.
    assert re.search(
        r"7 hops in 2 trace\(s\)\. Failing step: gateway \u2192 authsession gRPC ConfirmEmailLogin", text
    ), text
    for hop in timeline.hops:
        assert hop.operation in text, f"{hop.operation} is not on the page"
    failing = " ".join(dom.by_class.get("hop error failing", []))
    assert re.search(r"gRPC ConfirmEmailLogin.*failing step", failing), dom.by_class.keys()

    shot = tmp_path / "timeline.png"
    done = headless(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,800", page.as_uri())
    assert done.returncode == 0, done.stderr
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len(png) > 10_000, f"a screenshot of {len(png)} bytes is blank"
