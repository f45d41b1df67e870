"""The built book, as a reader gets it: jupyter-book builds it with warnings as errors, and
headless Chromium, with every host but this machine unreachable, renders each chapter's
scrubbers once, and the play button and the slider change the frame."""

import functools
import http.server
import re
import subprocess
import sys
import threading
import time

import nbformat
import pytest
import yaml

from conftest import CHAPTERS, ROOT, require_tool

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VENDORED = ("vendor/require.js", "vendor/widgets-config.js",
            "vendor/jw/html-manager/dist/embed-amd.js")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    res = subprocess.run(
        [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
         str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
        capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
    return out / "_build" / "html"


def widget_views(path, dom_class=None):
    """How many widgets the notebook displays (only those with `dom_class`, if given)."""
    nb = nbformat.read(path, as_version=4)
    ids = [o.data["application/vnd.jupyter.widget-view+json"]["model_id"]
           for c in nb.cells if c.cell_type == "code" for o in c.outputs
           if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    if dom_class is None or not ids:  # a chapter without widgets has no widget state either
        return len(ids) if dom_class is None else 0
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    return sum(dom_class in state[i]["state"].get("_dom_classes", []) for i in ids)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_pages_load_one_vendored_widget_manager(built, chapter):
    html = (built / "book" / f"{chapter.stem}.html").read_text()
    srcs = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    for name in VENDORED:
        assert sum(name in s for s in srcs) == (1 if widget_views(chapter) else 0), name
    external = [s for s in srcs if s.startswith(("http:", "https:", "//"))]
    assert not external, f"scripts from the network: {external}"
    assert html.count('type="application/vnd.jupyter.widget-state+json"') <= 1
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    colab = "https://colab.research.google.com/github/" + url.split("github.com/")[1]
    assert f"{colab}/blob/main/book/{chapter.stem}.ipynb" in html, "no Colab launch button"


@pytest.fixture(scope="module")
def browser(built):
    chromium = require_tool("chromium", "the browser test renders the built book")
    driver_path = require_tool("chromedriver", "selenium drives chromium through it")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(built)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    opts = Options()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-sync",
                 "--disable-component-update", "--disable-quic",
                 # no network: every host but this machine's loopback fails to resolve
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield driver
    driver.quit()
    server.shutdown()


def visible_frame(driver, scrubber):
    return driver.execute_script(
        "return [...arguments[0].querySelectorAll('img')].filter(i => i.offsetParent !== null)"
        ".map(i => i.src + ':' + i.naturalWidth)", scrubber)


def wait_for(predicate, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if widget_views(c, "ganlib-scrubber")],
                         ids=lambda p: p.stem)
def test_scrubbers_render_once_and_scrub_offline(browser, chapter):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{browser.base}/book/{chapter.stem}.html")
    n = widget_views(chapter, "ganlib-scrubber")
    found = wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".ganlib-scrubber")) >= n)
    scrubbers = browser.find_elements(By.CSS_SELECTOR, ".ganlib-scrubber")
    assert found and len(scrubbers) == n, f"{len(scrubbers)} scrubbers rendered for {n} widgets"
    first = scrubbers[0]
    assert len(visible_frame(browser, first)) == 1
    before = visible_frame(browser, first)
    assert wait_for(lambda: all(not f.endswith(":0") for f in visible_frame(browser, first)))

    # the slider, by keyboard: one step right shows another frame
    first.find_element(By.CSS_SELECTOR, ".noUi-handle").send_keys(Keys.ARROW_RIGHT)
    assert wait_for(lambda: visible_frame(browser, first) != before), "slider did not change frame"

    # the play button drives the slider and the frame of another scrubber
    last = scrubbers[-1]
    handle = last.find_element(By.CSS_SELECTOR, ".noUi-handle")
    start_frame, start_pos = visible_frame(browser, last), handle.get_attribute("aria-valuenow")
    browser.execute_script("arguments[0].scrollIntoView()", last)
    last.find_element(By.CSS_SELECTOR, ".widget-play button").click()
    assert wait_for(lambda: visible_frame(browser, last) != start_frame), "play changed nothing"
    assert handle.get_attribute("aria-valuenow") != start_pos

    # the equations were typeset by the vendored MathJax
    assert wait_for(lambda: browser.execute_script(
        "return document.querySelectorAll('mjx-container').length") > 0), "no math rendered"

    # everything the page loaded came from this machine
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith((browser.base, "blob:", "data:")) for u in urls), \
        [u for u in urls if not u.startswith(browser.base)][:5]
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and ("jupyter-widgets" in e["message"] or "vendor/" in e["message"])]
    assert not severe, severe


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if widget_views(c, "ganlib-picker")],
                         ids=lambda p: p.stem)
def test_pickers_switch_pictures_offline(browser, chapter):
    """A picker (ganlib.viz.widgets.picker) shows one picture, and choosing another option in its
    dropdown shows another, with no kernel behind the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{browser.base}/book/{chapter.stem}.html")
    n = widget_views(chapter, "ganlib-picker")
    found = wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".ganlib-picker")) >= n)
    pickers = browser.find_elements(By.CSS_SELECTOR, ".ganlib-picker")
    assert found and len(pickers) == n, f"{len(pickers)} pickers rendered for {n} widgets"
    for picker in pickers:
        browser.execute_script("arguments[0].scrollIntoView()", picker)
        assert wait_for(lambda: len(visible_frame(browser, picker)) == 1)
        before = visible_frame(browser, picker)
        assert not before[0].endswith(":0"), "the picture did not load"
        menu = Select(picker.find_element(By.CSS_SELECTOR, "select"))
        chosen = menu.first_selected_option.text
        other = next(o.text for o in menu.options if o.text != chosen)
        menu.select_by_visible_text(other)
        assert wait_for(lambda: visible_frame(browser, picker) != before), \
            f"choosing {other!r} instead of {chosen!r} did not change the picture"
