"""Open the built course website in a real browser and report what a reader would see
go wrong: ``check_site(site_dir, pages)``.

Headless Chromium (the distribution's package; ``$NPAE_CHROMIUM`` names another
executable) is driven over the DevTools protocol through ``--remote-debugging-pipe``:
Chromium reads JSON commands from file descriptor 3 and writes replies and events to
descriptor 4, each message ended by a NUL byte. That needs nothing beyond the standard
library (no websocket, no driver package). The site is served by ``http.server`` on
127.0.0.1 (a web worker, which the search runs in, cannot start from ``file://``).

For each page, after its load event and MathJax's queue have finished:

- **errors**: an uncaught exception, a ``console.error``, or a browser log entry of
  level error (a 404 shows up there too);
- **failed requests**: a request that failed (missing file, blocked) or answered >= 400;
- **raw TeX**: TeX delimiters or commands still in the page's text outside code blocks
  (MathJax did not typeset them), or an unrendered ``.. math::`` directive;
- **figures**: an ``<img>`` that did not load or has a zero width or height on the page.

``search(site_dir, "contractive")`` types the word into the site's search box and returns
the result links. Run as a script (``python tests/browser_check.py SITE``) it checks
every tutorial page and a sample of API pages, and prints the problems.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# TeX that MathJax should have turned into rendered math: display/inline delimiters, or
# a backslash command between dollars (plain "$5" in prose does not match)
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$"
                     r"|\\(?:frac|mathbf|mathcal|sum|sigma|begin|end|left|right)\b")
RAW_DIRECTIVE = re.compile(r"\.\. math::")

# MathJax 2 detects when a web font has loaded by comparing it with a font-face named
# MathJax_Blank whose source is url('about:blank'); Chromium refuses that URL (a CORS
# error and a failed request in its log) and MathJax carries on as designed. Nothing a
# reader sees comes of it, so these two entries alone are not counted.
def _mathjax_blank_probe(text: str) -> bool:
    return ("Access to font at 'about:blank'" in text
            or (text.rstrip().endswith(" about:blank") and "net::ERR_FAILED" in text))

# the visible text of the page outside code and MathJax's own output, after typesetting
PAGE_TEXT_JS = """(() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, textarea, .MathJax, .MathJax_Display,'
    + ' .MathJax_Preview, .MJX_Assistive_MathML, .md-search, .md-nav').forEach(e => e.remove());
  return body.textContent;
})()"""

IMAGES_JS = """(() => Array.from(document.images).map(img => {
  const box = img.getBoundingClientRect();
  return {src: img.currentSrc || img.src, complete: img.complete,
          natural: [img.naturalWidth, img.naturalHeight], box: [box.width, box.height]};
}))()"""

# resolves to 'done' once MathJax 2 has run everything queued (typesetting included);
# 'none' without MathJax, 'not loaded' with its settings but not MathJax itself
MATHJAX_DONE_JS = """new Promise(resolve => {
  if (!window.MathJax || !window.MathJax.Hub || !window.MathJax.Hub.Queue) {
    resolve(window.MathJax ? 'not loaded' : 'none'); return; }
  window.MathJax.Hub.Queue(() => resolve('done'));
})"""


@dataclass
class PageReport:
    """What went wrong on one page (every list empty: nothing)."""

    url: str
    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    raw_tex: list[str] = field(default_factory=list)
    bad_figures: list[str] = field(default_factory=list)
    figures: int = 0
    mathjax: str = ""
    seconds: float = 0.0

    def problems(self, raw_tex: bool = True) -> list[str]:
        out = [f"error: {e}" for e in self.errors]
        out += [f"failed request: {r}" for r in self.failed_requests]
        out += [f"raw TeX: {t}" for t in self.raw_tex] if raw_tex else []
        out += [f"figure: {f}" for f in self.bad_figures]
        return [f"{self.url}: {p}" for p in out]


def find_chromium() -> str | None:
    """The Chromium executable: ``$NPAE_CHROMIUM``, else the first of the usual names
    on ``PATH``; None when there is none."""
    env = os.environ.get("NPAE_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium, one tab, spoken to over the DevTools pipe."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900):
        executable = executable or find_chromium()
        if not executable:
            raise FileNotFoundError("no Chromium found (apt-get install chromium, or set "
                                    "NPAE_CHROMIUM)")
        self._profile = tempfile.TemporaryDirectory(prefix="npae-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # the child's fd 3 reads commands, fd 4 writes replies
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [executable, "--headless", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-dev-shm-usage",
                "--disable-component-update", "--mute-audio", "--hide-scrollbars",
                f"--window-size={width},{height}", "about:blank"]
        self._log = Path(self._profile.name) / "chromium.log"  # why it died, if it does
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, preexec_fn=wire_fds, pass_fds=(3, 4))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target,
                                      flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable", session=True)
        except Exception:
            self.close()
            raise

    # -- the pipe -------------------------------------------------------------------
    def _died(self) -> RuntimeError:
        tail = self._log.read_text(errors="replace").strip().splitlines()[-5:]
        return RuntimeError("Chromium closed the DevTools pipe (it exited): "
                            + (" | ".join(tail) or "no output"))

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            # wait at most until the deadline: a hung browser fails the check, never
            # hangs the test run
            remaining = deadline - time.monotonic()
            ready = remaining > 0 and select.select([self._from_child], [], [], remaining)[0]
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise self._died()
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, timeout: float = 60.0,
             **params: Any) -> dict:
        """Send one command and return its result; events that arrive meanwhile are
        kept in :attr:`events`."""
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        try:
            os.write(self._to_child, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise self._died() from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str, timeout: float = 60.0) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", session=True, timeout=timeout,
                           expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        """Wait for the next event named ``method`` (already received ones count)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["method"] == method and not ev.get("_seen"):
                    ev["_seen"] = True
                    return self.events[i]
            self.events.append(self._read_message(deadline))

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Collect events until none has arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"\0" not in self._buffer:
                ready, _, _ = select.select([self._from_child], [], [], quiet)
                if not ready:
                    return
            self.events.append(self._read_message(deadline))

    def navigate(self, url: str, timeout: float = 60.0) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired", timeout=timeout)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 (a free port) for the ``with`` block; yields the base
    URL, ending in ``/``."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _describe_exception(params: dict) -> str:
    details = params.get("exceptionDetails", {})
    exc = details.get("exception", {})
    text = exc.get("description") or details.get("text", "exception")
    return f"{text.splitlines()[0]} ({details.get('url', '')}:{details.get('lineNumber', '?')})"


def inspect_page(browser: Browser, url: str, screenshot: Path | None = None) -> PageReport:
    """Load ``url`` in ``browser`` and report its errors, failed requests, raw TeX and
    figures (see the module docstring)."""
    start = time.monotonic()
    report = PageReport(url)
    browser.navigate(url)
    report.mathjax = browser.evaluate(MATHJAX_DONE_JS, timeout=120) or ""
    # images below the fold may be lazy: scroll through the page so each one loads
    browser.evaluate("new Promise(r => { window.scrollTo(0, document.body.scrollHeight);"
                     " setTimeout(() => { window.scrollTo(0, 0); r(true); }, 100); })")
    browser.evaluate("Promise.all(Array.from(document.images).map(img => img.complete ? 0 :"
                     " new Promise(r => { img.onload = img.onerror = r; })))", timeout=30)
    browser.settle()
    responses: dict[str, int] = {}
    requests: dict[str, str] = {}
    for ev in browser.events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            report.errors.append(_describe_exception(params))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", "")))
                            for a in params.get("args", []))
            report.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            report.errors.append(f"{entry.get('source')}: {entry.get('text')} "
                                 f"{entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.responseReceived":
            responses[params["requestId"]] = params["response"]["status"]
            if params["response"]["status"] >= 400:
                report.failed_requests.append(
                    f"{params['response']['status']} {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            report.failed_requests.append(
                f"{params.get('errorText')} {requests.get(params['requestId'], '?')}")
    report.errors = [e for e in report.errors if not _mathjax_blank_probe(e)]
    report.failed_requests = [r for r in report.failed_requests if not _mathjax_blank_probe(r)]
    text = browser.evaluate(PAGE_TEXT_JS) or ""
    for pattern in (RAW_TEX, RAW_DIRECTIVE):
        for m in pattern.finditer(text):
            report.raw_tex.append(repr(text[max(0, m.start() - 30):m.end() + 30]))
    images = browser.evaluate(IMAGES_JS) or []
    report.figures = len(images)
    for img in images:
        if not img["complete"] or 0 in img["natural"] or 0 in img["box"]:
            src = img["src"] if len(img["src"]) < 120 else img["src"][:100] + "..."
            report.bad_figures.append(f"{src} (loaded: {img['complete']}, natural size "
                                      f"{img['natural']}, on the page {img['box']})")
    if screenshot is not None:
        browser.screenshot(screenshot)
    report.seconds = time.monotonic() - start
    return report


def search(browser: Browser, base_url: str, word: str, timeout: float = 30.0) -> list[str]:
    """Type ``word`` into the site's search box (on the home page) and return the links
    of the results it lists, as the reader would see them."""
    browser.navigate(base_url)
    browser.evaluate("(() => { const i = document.querySelector('input.md-search__input,"
                     " input[type=search]'); i.focus(); return !!i; })()")
    browser.call("Input.insertText", session=True, text=word)
    deadline = time.monotonic() + timeout
    links: list[str] = []
    while time.monotonic() < deadline:
        links = browser.evaluate("Array.from(document.querySelectorAll("
                                 "'.md-search-result__link, .md-search-result a'))"
                                 ".map(a => a.href)") or []
        if links:
            break
        time.sleep(0.2)
    return links


def tutorial_pages(site: Path) -> list[str]:
    """Every tutorial page of the site, as paths relative to it (``tutorials/NN_x/``)."""
    return sorted(f"tutorials/{p.parent.name}/"
                  for p in (site / "tutorials").glob("[0-9][0-9]_*/index.html"))


def api_pages(site: Path, sample: int = 5) -> list[str]:
    """A sample of the API pages: the package's page and the modules with the most math
    (typeset spans or ``.. math::`` directives), ``sample`` in all."""
    pages = sorted((site / "api").glob("*/index.html"))

    def math(page: Path) -> int:
        html = page.read_text(encoding="utf-8", errors="ignore")
        return html.count("arithmatex") + html.count("math::")

    scored = sorted(pages, key=lambda p: (-math(p), p.parent.name))
    chosen = [p for p in pages if p.parent.name == "npae"][:1]
    chosen += [p for p in scored if p not in chosen][: sample - len(chosen)]
    return [f"api/{p.parent.name}/" for p in chosen]


def check_site(site: str | os.PathLike, pages: list[str] | None = None, *,
               screenshots: dict[str, Path] | None = None,
               executable: str | None = None) -> list[PageReport]:
    """Open each page of the built ``site`` (paths relative to it; default every tutorial
    page and a sample of API pages) in headless Chromium; one report per page.

    ``screenshots`` maps a page (one of ``pages``) to the PNG file to save it as.
    """
    site = Path(site)
    pages = pages if pages is not None else tutorial_pages(site) + api_pages(site)
    screenshots = screenshots or {}
    with serve(site) as base, Browser(executable) as browser:
        return [inspect_page(browser, base + page, screenshots.get(page)) for page in pages]


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("site", help="the built site folder (python docs/build.py --out SITE)")
    p.add_argument("pages", nargs="*", help="pages to check (default: every tutorial page "
                   "and a sample of API pages)")
    args = p.parse_args(argv)
    reports = check_site(args.site, args.pages or None)
    problems = [p for r in reports for p in r.problems()]
    for r in reports:
        print(f"{r.url}: {r.figures} figures, MathJax {r.mathjax}, {r.seconds:.1f} s, "
              f"{len(r.problems())} problems")
    print("\n".join(problems) or "no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
