"""The report in a real browser: headless Chromium over the DevTools protocol (tests/browser.py)."""

import json
import shutil
import struct

import pytest

from bench.cli import main
from bench.runner import run_suite
from bench.suites import text_smoke_cells
from browser import Browser, BrowserError  # tests/browser.py
from reports import html

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed (.ci/run installs it)")

# Every <svg> and <img> of the page (an <svg> nested in another is part of its parent's drawing),
# with its size as laid out and the section it sits in.
_IMAGES = """
Array.from(document.querySelectorAll('svg, img'))
  .filter(e => !(e.parentElement && e.parentElement.closest('svg')))
  .map((e, i) => {
    const r = e.getBoundingClientRect(), section = e.closest('section');
    return {tag: e.tagName.toLowerCase(), index: i, section: section ? (section.id || section.querySelector('h2')?.textContent) : null,
            width: r.width, height: r.height, broken: e.tagName === 'IMG' && !(e.complete && e.naturalWidth > 0)};
  })
"""


def empty_images(browser) -> list[dict]:
    """The page's images that are laid out with no area or (an <img>) were not decoded; every
    <details> is opened first, since a closed one hides what it holds by design."""
    browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true), 0")
    images = browser.evaluate(_IMAGES)
    assert images, "the page has no image at all"
    return [i for i in images if not (i["width"] > 0 and i["height"] > 0) or i["broken"]]


@pytest.fixture(scope="module")
def browser():
    with Browser(timeout=30) as b:
        yield b


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR", "a PNG starts with its IHDR chunk"
    return struct.unpack(">II", data[16:24])


def test_report_renders_without_errors_with_every_section_and_image(store_uri, tiny_suite, tmp_path, browser):
    run_suite("tiny")
    tiny_suite += text_smoke_cells()[:1]  # defined but not run: the text section shows as "not run"
    assert main(["report", "--suite", "tiny", "--out", str(tmp_path / "out")]) == 0
    browser.open(tmp_path / "out" / "tiny.html")

    assert browser.console_errors() == []
    assert browser.evaluate("document.title") == "Reproducibility report: tiny"
    for figure, (module, _) in html.FIGURES.items():
        section = browser.evaluate(
            f"(s => s && {{tag: s.tagName, title: s.querySelector('h2')?.textContent}})(document.getElementById({json.dumps(figure)}))"
        )
        assert section == {"tag": "SECTION", "title": module.TITLE}, f"figure section {figure!r}"
        assert browser.evaluate(f"document.querySelector('a[href=\"#{figure}\"]') !== null"), f"overview link to {figure!r}"
    assert browser.evaluate("document.querySelector('#fig11 svg') !== null"), "the Figure 11 plot is missing"
    assert browser.evaluate("document.querySelectorAll('#fig11 tr.notrun, #fig11 tr.inconclusive').length") == 4  # 2 seeds: no verdict
    assert "not run" in browser.evaluate("document.getElementById('text-smoke').textContent")
    assert "Provenance" in browser.evaluate("Array.from(document.querySelectorAll('section > h2'), h => h.textContent)")

    shot = browser.screenshot(tmp_path / "report.png")  # as a reader first sees it: details closed
    data = shot.read_bytes()
    width, height = png_size(data)
    assert len(data) > 10_000 and width > 0 and height > 0
    assert height >= browser.evaluate("document.documentElement.scrollHeight") > 600, "the screenshot covers the whole page"

    empty = empty_images(browser)
    assert not empty, f"images drawn with no size (or not decoded): {empty}"
    assert browser.console_errors() == []


@pytest.mark.parametrize("script, expected", [
    ('console.error("boom")', "console.error: boom"),
    ('console.assert(1 === 2, "one is not two")', "console.assert: one is not two"),
    ('throw new Error("kaboom")', "uncaught exception: Error: kaboom"),
    ("", "log (network): Failed to load resource"),
])
def test_console_errors_are_reported(browser, tmp_path, script, expected):
    """The checker can fail: each kind of error shows up in console_errors(), and only for its page."""
    missing = "<img src='missing.png'>" if not script else ""
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><title>t</title>{missing}<script>{script}</script>")
    browser.open(page)
    errors = browser.console_errors()
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    (tmp_path / "clean.html").write_text("<!DOCTYPE html><title>clean</title><p>fine</p>")
    browser.open(tmp_path / "clean.html")
    assert browser.console_errors() == []


def test_empty_and_broken_images_are_found(browser, tmp_path):
    page = tmp_path / "images.html"
    page.write_text(
        "<!DOCTYPE html><title>images</title><section id='a'><svg width='40' height='40'></svg><svg width='0' height='40'></svg>"
        "<details><summary>more</summary><svg width='30' height='30'></svg></details></section>"
        "<img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='>"
        "<img src='data:image/png;base64,AAAA' alt='broken'><svg style='display:none'></svg>"
    )
    browser.open(page)
    found = [(i["tag"], i["index"], i["section"]) for i in empty_images(browser)]
    assert found == [("svg", 1, "a"), ("img", 4, None), ("svg", 5, None)]


def test_opening_a_missing_file_fails_clearly(browser, tmp_path):
    with pytest.raises(BrowserError, match="ERR_FILE_NOT_FOUND"):
        browser.open(tmp_path / "absent.html")
