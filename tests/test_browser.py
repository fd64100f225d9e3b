"""The documentation site and the results report, opened in a real browser (headless Chromium).

Chromium is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``: file
descriptors 3 and 4, NUL-separated JSON), so no websocket library is needed. Each page is served by
a local HTTP server, loaded in a fresh profile with networking to anything but that server cut off,
and checked from the rendered page: a screenshot that is not blank, the DOM (the claims table, the
API entries), every ``<img>`` decoded (``naturalWidth > 0``), no console error, no uncaught
exception, no failed request, no request to another host.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it where absent); the tests
skip, saying so, only where no Chromium can be found.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import io
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,900",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: install Debian's package with `apt-get install -y chromium` "
    "(.ci/run does) to run the browser checks",
)


class Browser:
    """A headless Chromium driven over the DevTools protocol on fds 3/4."""

    def __init__(self, exe: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="fpjax-chromium-")
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()
        cmd = [
            "bash",
            "-c",
            f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w}',
            exe,
            *FLAGS,
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            cmd,
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._id = 0
        self._messages: queue.Queue = queue.Queue()
        self._pending: dict[int, dict] = {}
        self.events: list[dict] = []
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self):
        buf = b""
        with os.fdopen(self._from_child_r, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                buf += chunk
                *msgs, buf = buf.split(b"\0")
                for m in msgs:
                    self._messages.put(json.loads(m))

    def _pump(self, until: float) -> bool:
        try:
            msg = self._messages.get(timeout=max(0.0, until - time.monotonic()))
        except queue.Empty:
            return False
        if "id" in msg:
            self._pending[msg["id"]] = msg
        else:
            self.events.append(msg)
        return True

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while self._id not in self._pending:
            if not self._pump(deadline):
                raise TimeoutError(
                    f"no answer to {method} within {self.timeout} s; stderr: {b''.join(self._stderr)[-2000:]!r}"
                )
        answer = self._pending.pop(self._id)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(self, method: str, session: str, since: int) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for ev in self.events[since:]:
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return ev
            if not self._pump(deadline):
                raise TimeoutError(f"no {method} within {self.timeout} s")

    def settle(self, seconds: float):
        deadline = time.monotonic() + seconds
        while self._pump(deadline):
            pass

    def open(self, url: str) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        since = len(self.events)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session, since)
        self.settle(1.5)  # late console messages, lazy images, scripts run on load
        return Page(self, session, since)

    def close(self):
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child_w)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser: Browser, session: str, since: int):
        self.browser, self.session, self.since = browser, session, since

    def evaluate(self, expression: str):
        res = self.browser.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def dom(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def images(self) -> list[dict]:
        return self.evaluate(
            "Promise.all(Array.from(document.images).map(async im => {"
            " try { await im.decode(); } catch (e) {}"
            " return {src: im.currentSrc.slice(0, 120), w: im.naturalWidth, h: im.naturalHeight}; }))"
        )

    def screenshot(self) -> bytes:
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        return base64.b64decode(data)

    def problems(self, allowed_origin: str) -> list[str]:
        out = []
        for ev in self.browser.events[self.since :]:
            if ev.get("sessionId") != self.session:
                continue
            method, p = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"uncaught exception: {p['exceptionDetails'].get('exception', {}).get('description')}")
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                if p["entry"].get("url", "").endswith("/favicon.ico"):  # the browser's own request
                    continue
                out.append(f"log error: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.loadingFailed" and not p.get("canceled"):
                out.append(f"failed request: {p.get('errorText')} ({p.get('type')})")
            elif method == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith((allowed_origin, "data:", "blob:", "about:")):
                    out.append(f"request to another origin: {url}")
        return out


def assert_not_blank(png: bytes):
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    assert img.size[0] >= 800 and img.size[1] >= 600, img.size
    lo, hi = img.getextrema()
    assert hi - lo > 100, f"screenshot is blank (grey levels {lo}..{hi})"


@contextlib.contextmanager
def serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    b = Browser(CHROMIUM)
    try:
        yield b
    finally:
        b.close()


# ------------------------------------------------------------------------------------------------
# the results report
# ------------------------------------------------------------------------------------------------


def _fixture_results(root: Path) -> None:
    """Two experiments' outputs as the runner writes them: config, metrics with claims, figures."""
    from matplotlib.figure import Figure

    for name, held in (("toy-held", True), ("toy-not-held", False)):
        d = root / name
        d.mkdir(parents=True)
        fig = Figure(figsize=(4, 3))
        ax = fig.add_subplot()
        ax.plot([0, 1, 2, 3], [3, 1, 2, 0] if held else [0, 2, 1, 3])
        ax.set_title(name)
        fig.savefig(d / "curve.png", dpi=60)
        config = {
            "experiment": name,
            "setting": "quick",
            "config": {"steps": 10, "seed": 0},
            "started": "2026-01-01T00:00:00+0000",
            "platform": {"python": "3.11", "machine": "x86_64", "jax": "0.0", "backend": "cpu", "devices": 1},
        }
        metrics = {
            "claims": [{"claim": f"the {name} claim", "held": held, "evidence": {"value": 1.0}}],
            "runtime_s": 0.1,
        }
        (d / "config.json").write_text(json.dumps(config))
        (d / "metrics.json").write_text(json.dumps(metrics))


def _build_report(root: Path) -> Path:
    try:
        from fpjax.experiment import build_report
    except ImportError:
        from fpjax._src.runner import build_report
    return Path(build_report(root))


@pytest.mark.slow
def test_results_report_in_the_browser(browser, tmp_path):
    root = tmp_path / "results"
    _fixture_results(root)
    index = _build_report(root)
    assert index == root / "index.html"
    with serve(root) as origin:
        page = browser.open(f"{origin}/index.html")
        assert_not_blank(page.screenshot())
        imgs = page.images()
        assert len(imgs) >= 2 and all(im["w"] > 0 and im["h"] > 0 for im in imgs), imgs
        rows = page.evaluate("Array.from(document.querySelectorAll('table tr')).map(r => r.innerText)")
        text = "\n".join(rows)
        assert "the toy-held claim" in text and "the toy-not-held claim" in text, rows
        assert "held" in text and "not hold" in text
        # figures are shown at most 560 px wide, each a link to the full-size image
        links = page.evaluate(
            "Array.from(document.querySelectorAll('figure img')).map(im => "
            "[im.closest('a') ? im.closest('a').getAttribute('href') : null, im.getAttribute('src')])"
        )
        assert links and all(href == src for href, src in links), links
        assert page.problems(origin) == []


# ------------------------------------------------------------------------------------------------
# the documentation site
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site():
    from test_docs import (
        built_site,  # one strict build per test process, shared with test_docs.py
    )

    return built_site()


@pytest.mark.slow
def test_site_in_the_browser(browser, site):
    with serve(site) as origin:
        home = browser.open(f"{origin}/index.html")
        assert_not_blank(home.screenshot())
        assert "API reference" in home.dom()
        assert home.problems(origin) == []

        api = browser.open(f"{origin}/api/fpjax.spectrum.html")
        ids = api.evaluate("Array.from(document.querySelectorAll('[id^=\"fpjax.spectrum.\"]')).map(e => e.id)")
        assert "fpjax.spectrum.grid_fft" in ids, ids[:20]
        assert api.problems(origin) == []

        nbs = sorted(p.name for p in (site / "notebooks").glob("[0-9]*.html"))
        assert nbs
        for name in nbs:
            page = browser.open(f"{origin}/notebooks/{name}")
            imgs = page.images()
            assert imgs and all(im["w"] > 0 for im in imgs), (name, imgs)
            assert page.problems(origin) == [], name

        cat = browser.open(f"{origin}/experiments.html")
        assert cat.evaluate("document.querySelectorAll('h2').length") >= 10
        assert all(im["w"] > 0 for im in cat.images())
        assert cat.problems(origin) == []

        search = browser.open(f"{origin}/index.html?q=grid_fft")
        assert search.problems(origin) == []

        # display formulas wrap inside the text column instead of scrolling
        theory = browser.open(f"{origin}/theory.html")
        boxes = theory.evaluate(
            "Array.from(document.querySelectorAll('div.arithmatex')).map(d => "
            "({scroll: d.scrollWidth, client: d.clientWidth, ws: getComputedStyle(d).whiteSpace}))"
        )
        assert len(boxes) >= 3 and all(b["scroll"] <= b["client"] + 1 and b["ws"] == "pre-wrap" for b in boxes), boxes
        assert theory.problems(origin) == []

        sphere = browser.open(f"{origin}/sphere.html")
        imgs = sphere.images()
        assert len(imgs) >= 2 and all(im["w"] > 0 for im in imgs), imgs
        assert sphere.problems(origin) == []
