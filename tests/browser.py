"""A headless Chromium driven over the Chrome DevTools Protocol (CDP), for the report's browser test.

No chromedriver or Playwright: Chromium is started with ``--remote-debugging-port=0``, prints
``DevTools listening on ws://...`` on stderr, and is spoken to over that websocket with aiohttp's
client (aiohttp is pinned in requirements.lock, via mlflow). One browser-level connection serves
everything: a page target is created and attached with ``flatten``, so its commands and events
carry a ``sessionId`` on the same socket. The public methods are synchronous; each runs the
asyncio loop until its answer is in, and events that arrive meanwhile are recorded.

    with Browser() as browser:
        browser.open(path)
        assert browser.console_errors() == []
        browser.screenshot(tmp_path / "page.png")
"""

from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import json
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp

_DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """Chromium did not start, a CDP command failed or timed out, or a page did not load."""


class Browser:
    """A headless Chromium with one page; use as a context manager (it kills the browser on exit)."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0, window: tuple[int, int] = (1280, 900)):
        self.executable = executable or shutil.which("chromium") or "chromium"
        self.timeout = timeout  # seconds for the start and for each call
        self.window = window  # the viewport: a screenshot is this wide and at least this tall
        self._proc: subprocess.Popen | None = None
        self._profile: tempfile.TemporaryDirectory | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._waiters: list[tuple[str, asyncio.Future]] = []
        self._session: str | None = None
        self._errors: list[str] = []

    # -- life cycle -------------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="bench-chromium-")
        window = self.window
        self._proc = subprocess.Popen(
            [
                self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--window-size={window[0]},{window[1]}", "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so close() reaches every child process
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain_stderr, args=(lines,), daemon=True).start()
        url = None
        try:
            while url is None:
                line = lines.get(timeout=self.timeout)
                if line is None:
                    raise BrowserError(f"{self.executable} exited (code {self._proc.wait()}) before DevTools listened{self._tail()}")
                if match := _DEVTOOLS_LINE.search(line):
                    url = match.group(1)
        except queue.Empty:
            raise BrowserError(f"{self.executable} printed no 'DevTools listening on ws://...' within {self.timeout:g} s{self._tail()}") from None

        self._loop = asyncio.new_event_loop()
        self._call(self._connect(url), f"connecting to {url}")
        target = self._command("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self._session = self._command("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self._command(f"{domain}.enable")

    def _drain_stderr(self, lines: queue.Queue) -> None:
        """Reads Chromium's stderr to the end (a full pipe would stall it), keeping the last lines."""
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(line)
            lines.put(line)
        lines.put(None)

    def _tail(self) -> str:
        return "; its stderr ended with:\n" + "\n".join(self._stderr_tail) if self._stderr_tail else ""

    def close(self) -> None:
        """Closes the connection, then kills Chromium's whole process group and removes its profile."""
        if self._loop is not None and not self._loop.is_closed():
            try:
                if self._ws is not None and not self._ws.closed:
                    self._call(self._send("Browser.close", {}, session=False), "Browser.close", timeout=5)
            except Exception:
                pass  # it is killed below anyway
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._disconnect(), 5))
            except Exception:
                pass
            self._loop.close()
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=5)
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)  # stragglers (renderer, zygote) of the group
            except ProcessLookupError:
                pass
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    # -- the page ---------------------------------------------------------------------------------

    def open(self, path: str | os.PathLike) -> None:
        """Loads a local file (or a URL) and waits for its load event; forgets earlier console errors."""
        url = str(path) if re.match(r"^[a-z]+:", str(path)) else Path(path).resolve().as_uri()
        self._errors.clear()

        async def navigate():
            loaded = self._expect("Page.loadEventFired")
            answer = await self._send("Page.navigate", {"url": url})
            if answer.get("errorText"):
                loaded.cancel()
                raise BrowserError(f"cannot open {url}: {answer['errorText']}")
            await loaded

        self._call(navigate(), f"loading {url}")

    def console_errors(self) -> list[str]:
        """Errors of the page since open(): console.error / console.assert, uncaught exceptions and
        browser log entries of level error (a resource that failed to load, a CSP violation, ...)."""
        self.evaluate("0")  # a round trip: every event Chromium sent before its answer is now recorded
        return list(self._errors)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values; promises are awaited)."""
        answer = self._command("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise BrowserError(f"JavaScript error in {expression[:80]!r}: {details.get('exception', {}).get('description') or details.get('text')}")
        return answer["result"].get("value")

    def screenshot(self, path: str | os.PathLike) -> Path:
        """Saves a PNG of the whole page (not only the viewport) to ``path``."""
        metrics = self._command("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width, height = max(1, math.ceil(size["width"])), max(1, math.ceil(size["height"]))
        self._command("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        try:
            shot = self._command("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        finally:
            self._command("Emulation.clearDeviceMetricsOverride")
        out = Path(path)
        out.write_bytes(base64.b64decode(shot["data"]))
        return out

    # -- CDP over the websocket -------------------------------------------------------------------

    async def _connect(self, url: str) -> None:
        self._http = aiohttp.ClientSession()
        # no Origin header (Chromium refuses foreign origins); no size limit (screenshots are large)
        self._ws = await self._http.ws_connect(url, max_msg_size=0, autoping=True)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _disconnect(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._dispatch(json.loads(message.data))
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
        finally:
            gone = BrowserError(f"Chromium closed the DevTools connection{self._tail()}")
            for future in [*self._pending.values(), *(f for _, f in self._waiters)]:
                if not future.done():
                    future.set_exception(gone)

    def _dispatch(self, message: dict) -> None:
        if "id" in message:
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(BrowserError(f"CDP error: {message['error'].get('message')} {message['error'].get('data', '')}".rstrip()))
                else:
                    future.set_result(message.get("result", {}))
            return
        method, params = message.get("method", ""), message.get("params", {})
        if message.get("sessionId") == self._session:
            self._record_error(method, params)
        for waiter in [w for w in self._waiters if w[0] == method]:
            self._waiters.remove(waiter)
            if not waiter[1].done():
                waiter[1].set_result(params)

    def _record_error(self, method: str, params: dict) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(_remote_text(arg) for arg in params.get("args", []))
            self._errors.append(f"console.{params['type']}: {text}{_where(params.get('stackTrace'))}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self._errors.append(f"uncaught exception: {text} ({details.get('url', '')}:{details.get('lineNumber', 0) + 1})")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self._errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".rstrip())

    def _expect(self, method: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((method, future))
        return future

    async def _send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        if self._ws is None or self._ws.closed:
            raise BrowserError(f"no DevTools connection for {method}{self._tail()}")
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        future = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = future
        await self._ws.send_str(json.dumps(message))
        return await future

    def _command(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        return self._call(self._send(method, params, session), method)

    def _call(self, coroutine, what: str, timeout: float | None = None):
        if self._loop is None or self._loop.is_closed():
            coroutine.close()
            raise BrowserError(f"the browser is not running ({what})")
        limit = self.timeout if timeout is None else timeout
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coroutine, limit))
        except asyncio.TimeoutError:
            raise BrowserError(f"Chromium did not answer {what} within {limit:g} s") from None


def _remote_text(arg: dict) -> str:
    """A console argument (a CDP RemoteObject) as text."""
    if "value" in arg:
        return arg["value"] if isinstance(arg["value"], str) else json.dumps(arg["value"])
    return arg.get("description") or arg.get("unserializableValue") or arg.get("type", "")


def _where(stack: dict | None) -> str:
    frames = (stack or {}).get("callFrames") or []
    return f" ({frames[0].get('url', '')}:{frames[0].get('lineNumber', 0) + 1})" if frames else ""
