"""Headless Chromium harness for the HTML reports (review pages now, other reports later).

Playwright drives the system (Debian) Chromium, never a downloaded one. Every request a
page makes is recorded and anything other than the page's own file is aborted, so a
test sees both that a page *tried* to reach out and that nothing left the machine.
When no Chromium is found, browser tests skip, except with ``CI=true``, where they fail:
a CI run that silently skipped its browser checks would prove nothing.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class RenderResult:
    """What a page did when opened: how it looked, what it fetched, what it complained of."""

    screenshot_png: bytes
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def find_chromium() -> str | None:
    """``$STALKRISK_CHROMIUM``, else the first Chromium found on this machine."""
    override = os.environ.get("STALKRISK_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def require_chromium() -> str:
    """The Chromium path, or skip the test (fail it when ``CI=true``)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed")
    path = find_chromium()
    if path is None:
        _unavailable("no Chromium executable found (set STALKRISK_CHROMIUM to its path)")
    return path  # type: ignore[return-value]


class Recorder:
    """Collects a page's requests and console errors while it is open."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.console_errors: list[str] = []

    def attach(self, page) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))


class Chromium:
    """One launched browser; open many pages with it (a launch costs about 1.5 s)."""

    def __init__(self, executable: str | None = None) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=executable or find_chromium(), args=LAUNCH_ARGS, headless=True
            )
        except BaseException:
            self._playwright.stop()
            raise

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def open(self, path: Path | str, *, width: int = 1200, height: int = 900) -> Iterator[tuple[object, Recorder]]:
        """Open a local file; yield the Playwright page and its recorder.

        Every request is recorded; any that is not a local ``file:`` URL is aborted.
        """
        url = Path(path).resolve().as_uri()
        context = self._browser.new_context(viewport={"width": width, "height": height},
                                            service_workers="block")
        try:
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else route.abort())
            page = context.new_page()
            recorder = Recorder()
            recorder.attach(page)
            page.goto(url, wait_until="load")
            yield page, recorder
        finally:
            context.close()

    def render(self, path: Path | str, *, width: int = 1200, full_page: bool = True,
               action: Callable[[object], None] | None = None) -> RenderResult:
        """Open ``path``, optionally act on the page, and take a screenshot."""
        with self.open(path, width=width) as (page, recorder):
            if action is not None:
                action(page)
            png = page.screenshot(full_page=full_page, type="png")
            return RenderResult(png, list(recorder.requests), list(recorder.console_errors))


def render_page(path: Path | str, **kwargs) -> RenderResult:
    """Render one local page in a fresh headless Chromium (see :meth:`Chromium.render`)."""
    with Chromium(require_chromium()) as browser:
        return browser.render(path, **kwargs)


def decode_png(png: bytes) -> np.ndarray:
    """PNG bytes to an (h, w, 3) array of 8-bit RGB values.

    Pillow (a dependency of matplotlib) when importable, else matplotlib's own reader.
    """
    try:
        from PIL import Image
    except ImportError:
        import matplotlib.image

        pixels = np.asarray(matplotlib.image.imread(io.BytesIO(png), format="png"), dtype=float)
        return np.round(pixels[..., :3] * 255).astype(np.uint8)
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def is_blank(png: bytes, *, min_colours: int = 8, min_ink: float = 0.002) -> bool:
    """True when a screenshot is (nearly) one flat colour.

    Blank means fewer than ``min_colours`` distinct colours, or less than ``min_ink`` of the
    pixels differing from the most common (background) colour.
    """
    pixels = decode_png(png)[::2, ::2]  # every other pixel is plenty, and 4x faster
    quantised = pixels.astype(np.uint32).reshape(-1, 3)
    packed = (quantised[:, 0] << 16) | (quantised[:, 1] << 8) | quantised[:, 2]
    _, counts = np.unique(packed, return_counts=True)
    ink = 1.0 - counts.max() / packed.size
    return len(counts) < min_colours or ink < min_ink


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """A session-wide headless Chromium; skips (or fails under ``CI=true``) when there is none."""
    executable = require_chromium()
    browser = Chromium(executable)
    try:
        yield browser
    finally:
        browser.close()
