"""The dashboard in headless Chromium (dash.testing): every page renders from a report dir, the
attention explorer follows its controls, and a bad report dir shows a note, not a traceback.

The page test also times navigation -> main graph drawn, and leaves a full-page screenshot of
each page and the timings under tests/artifacts/.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from sgt_probe.app import ids
from sgt_probe.app.app import create_app

HAVE_BROWSER = bool(shutil.which("chromedriver")) and Path("/usr/bin/chromium").exists()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_BROWSER,
        reason="needs /usr/bin/chromium and chromedriver: apt-get install chromium chromium-driver",
    ),
]

ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT = 20
# page path -> the element whose drawing means the page is usable
MAIN = {
    "/": f"#{ids.OV_SCORES}",
    "/separability": f"#{ids.SEP_ACCURACY}",
    "/attention": f"#{ids.ATT_OVERLAY}",
    "/embeddings": f"#{ids.EMB_SCATTER}",
    "/generations": f"#{ids.GEN_GRID} .gen-card",
    "/knockout": f"#{ids.KO_CHANGE}",
    "/alignment": f"#{ids.ALN_CKA}",
}
# true once the plotly figure inside a dcc.Graph has traces and a laid-out plot
GRAPH_DRAWN = """
const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');
return !!(gd && gd.data && gd.data.length && gd._fullLayout && gd.querySelector('.main-svg'));
"""
FIGURE = "return document.querySelector(arguments[0] + ' .js-plotly-plot')"


@pytest.fixture(scope="module")
def report_dir(real_report) -> Path:
    """The report dir the browser tests serve: written by a real `sgt-probe compare` run."""
    return real_report


def _wait(dash_duo, condition, message: str):
    # a short poll, so that the page timings are not rounded up to the default half second
    return WebDriverWait(dash_duo.driver, TIMEOUT, poll_frequency=0.02).until(condition, message)


def _wait_drawn(dash_duo, selector: str) -> None:
    if selector.endswith(".gen-card"):
        _wait(dash_duo, lambda d: d.find_elements(By.CSS_SELECTOR, selector), selector)
    else:
        _wait(dash_duo, lambda d: d.execute_script(GRAPH_DRAWN, selector), selector)


def _figure(dash_duo, selector: str, expr: str):
    """Evaluate `expr` on the plotly graph div `gd` of the dcc.Graph at `selector`."""
    js = f"const gd = document.querySelector(arguments[0] + ' .js-plotly-plot'); return {expr};"
    return dash_duo.driver.execute_script(js, selector)


def _title(dash_duo, selector: str) -> str:
    return _figure(dash_duo, selector, "gd.layout.title.text")


def _screenshot(dash_duo, name: str) -> None:
    """A full-page PNG (Chrome's DevTools capture: the window itself is only 1000 px tall)."""
    ARTIFACTS.mkdir(exist_ok=True)
    driver = dash_duo.driver
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    (ARTIFACTS / f"page-{name}.png").write_bytes(base64.b64decode(shot["data"]))


def _record_times(kind: str, times: dict[str, float]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "time_to_interactive.json"
    recorded = json.loads(out.read_text()) if out.exists() else {}
    recorded.setdefault(kind, {}).update({p: round(t, 3) for p, t in times.items()})
    out.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


def _serve(dash_duo, dirs) -> None:
    """Serve the app without opening a page, so the first page a test opens is a cold start."""
    dash_duo.start_server(create_app(dirs), navigate=False)


def _visit(dash_duo, path: str) -> float:
    """Seconds from navigating to `path` until its main element is drawn."""
    start = time.perf_counter()
    dash_duo.driver.get(dash_duo.server.url + path)
    _wait_drawn(dash_duo, MAIN[path])
    return time.perf_counter() - start


def test_every_page_renders_then_answers_warm(dash_duo, report_dir):
    """Every page in one browser (starting one per page cost the suite ~5 s a page): each first
    visited with the browser's cache cleared, as a user's first visit (the server has read the
    report by then), checked for problems and browser errors and screenshotted; then every
    page again, warm, as a user sees it once the pages are cached (timing visits more often
    belongs in a benchmark, not in the suite's ten minutes)."""
    _serve(dash_duo, [report_dir])
    first = {}
    for path in MAIN:
        dash_duo.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        first[path] = _visit(dash_duo, path)
        assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".problem"), path
        _screenshot(dash_duo, path.strip("/") or "overview")
        assert dash_duo.get_logs() == [], path
    _record_times("first_visit_cache_cleared", first)
    _record_times("warm_second_visit", {path: _visit(dash_duo, path) for path in MAIN})
    assert dash_duo.get_logs() == []


def test_attention_follows_layer_token_and_patch(dash_duo, report_dir):
    overlay = f"#{ids.ATT_OVERLAY}"
    _serve(dash_duo, [report_dir])
    _visit(dash_duo, "/attention")
    title = _title(dash_duo, overlay)
    z = _figure(dash_duo, overlay, "JSON.stringify(gd.data[1].z)")
    last = json.loads((report_dir / "report.json").read_text())["model"]["n_layers"] - 1
    assert f"layer {last}" in title  # the last layer first

    # the slider's handle, moved to its first position (layer 0) as a keyboard user would
    dash_duo.find_element(f"#{ids.ATT_LAYER} [role='slider']").send_keys(Keys.HOME)
    _wait(dash_duo, lambda d: "layer 0" in _title(dash_duo, overlay), "layer 0")
    assert _figure(dash_duo, overlay, "JSON.stringify(gd.data[1].z)") != z

    # play advances the layer on its own
    dash_duo.find_element(f"#{ids.ATT_PLAY}").click()
    _wait(dash_duo, lambda d: "layer 1" in _title(dash_duo, overlay), "play")
    dash_duo.find_element(f"#{ids.ATT_PLAY}").click()

    # a question token narrows the map to that token
    token = dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.ATT_TOKEN} label")[2]
    word = token.text.strip()
    token.click()
    _wait(dash_duo, lambda d: f"“{word}”" in _title(dash_duo, overlay), word)

    # a click on the image picks a patch; the readers chart shows one bar group per token
    drag = dash_duo.find_element(f"{overlay} .nsewdrag[data-subplot='xy']")
    ActionChains(dash_duo.driver).move_to_element(drag).click().perform()
    readers = f"#{ids.ATT_READERS}"
    _wait(dash_duo, lambda d: d.execute_script(GRAPH_DRAWN, readers), "readers chart")
    assert "Which question tokens read patch" in _title(dash_duo, readers)
    assert dash_duo.get_logs() == []


def test_embedding_hover_shows_patch(dash_duo, report_dir):
    scatter = f"#{ids.EMB_SCATTER}"
    _serve(dash_duo, [report_dir])
    _visit(dash_duo, "/embeddings")
    point = dash_duo.find_element(f"{scatter} .scatterlayer .point")
    ActionChains(dash_duo.driver).move_to_element(point).perform()
    _wait(dash_duo, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.EMB_HOVER} img"), "hover")
    assert dash_duo.get_logs() == []


def test_generations_filter(dash_duo, report_dir):
    _serve(dash_duo, [report_dir])
    _visit(dash_duo, "/generations")
    before = dash_duo.find_element(f"#{ids.GEN_COUNT}").text
    dash_duo.select_dcc_dropdown(f"#{ids.GEN_STATUS}", index=1)  # fixed by tuning
    _wait(dash_duo, lambda d: d.find_element(By.ID, ids.GEN_COUNT).text != before, "filter")
    for card in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".gen-card"):
        imgs = card.find_elements(By.CSS_SELECTOR, "img.gen-img")
        # [truth, reference, first tuned, ...]: fixed = reference fails, first tuned passes
        assert "fail" in imgs[1].get_attribute("class")
        assert "pass" in imgs[2].get_attribute("class")
    assert dash_duo.get_logs() == []


def test_reading_against_drawing_follows_its_controls(dash_duo, report_dir):
    """Cross-path CKA, probe transfer and the logit lens, drawn from a real compare's report;
    the transfer and lens figures follow their controls."""
    _serve(dash_duo, [report_dir])
    _visit(dash_duo, "/alignment")
    names = json.loads((report_dir / "report.json").read_text())["checkpoints"]
    for graph in (ids.ALN_CKA, ids.ALN_TRANSFER, ids.ALN_LENS):
        _wait_drawn(dash_duo, f"#{graph}")
        lines = _figure(dash_duo, f"#{graph}", "gd.data.filter(t => t.mode === 'lines+markers')"
                                               ".map(t => t.name)")  # fmt: skip
        assert lines == [c["name"] for c in names], graph  # base and tuned, each drawn
    assert "Cross-path CKA" in _title(dash_duo, f"#{ids.ALN_CKA}")
    transfer, lens = f"#{ids.ALN_TRANSFER}", f"#{ids.ALN_LENS}"
    assert "read → draw" in _title(dash_duo, transfer)
    dash_duo.select_dcc_dropdown(f"#{ids.ALN_DIRECTION}", index=1)  # draw -> read
    _wait(dash_duo, lambda d: "draw → read" in _title(dash_duo, transfer), "transfer direction")
    assert "reading" in _title(dash_duo, lens)
    dash_duo.find_element(f"#{ids.ALN_LENS_PATH} input[value='draw']").click()
    _wait(dash_duo, lambda d: "drawing" in _title(dash_duo, lens), "lens path")
    dash_duo.select_dcc_dropdown(f"#{ids.ALN_LENS_TARGET}", index=1)  # color words
    _wait(dash_duo, lambda d: "color words" in _title(dash_duo, lens), "lens words")
    _screenshot(dash_duo, "alignment-controls")
    assert dash_duo.get_logs() == []


def test_bad_report_dirs_show_a_note(dash_duo, report_dir, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "report.json").write_text("{not json")
    missing = tmp_path / "missing"
    dash_duo.start_server(create_app([damaged, missing, report_dir]))
    note = f"#{ids.OV_NOTE} .problem"
    dash_duo.wait_for_contains_text(note, "damaged JSON", timeout=TIMEOUT)
    dash_duo.select_dcc_dropdown(f"#{ids.REPORT}", index=1)
    dash_duo.wait_for_contains_text(note, "not a report directory", timeout=TIMEOUT)
    dash_duo.select_dcc_dropdown(f"#{ids.REPORT}", index=2)
    _wait(dash_duo, lambda d: not d.find_elements(By.CSS_SELECTOR, note), "note cleared")
    _wait_drawn(dash_duo, MAIN["/"])
    assert dash_duo.get_logs() == []


def test_study_page_shows_the_scorecard_and_its_figures(dash_duo, tmp_path):
    """`sgt-probe dash` on a study folder: the Study page draws the scorecard from study.json,
    the forest plots with a dot per seed and the allocation by layer, with no report served."""
    from fixtures_study import write_synthetic_study

    from sgt_probe.analyses.claims import build
    from sgt_probe.report.study import write_study

    study = build(write_synthetic_study(tmp_path / "runs"), tmp_path / "runs")
    write_study(tmp_path / "study", study)
    dash_duo.start_server(create_app([], [tmp_path / "study"]), navigate=False)
    dash_duo.driver.get(dash_duo.server.url + "/study")
    forest = f"#{ids.STUDY_FOREST_U}"
    # eight figures from one callback: allow a loaded machine more than one page's TIMEOUT
    WebDriverWait(dash_duo.driver, 4 * TIMEOUT, poll_frequency=0.2).until(
        lambda d: d.execute_script(GRAPH_DRAWN, forest), forest
    )
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.STUDY_SCORECARD} tbody tr")
    assert len(rows) == len(study.claims)
    verdicts = [r.find_elements(By.TAG_NAME, "td")[-1].text for r in rows]
    assert verdicts[1].startswith(study.claims[1].verdict)  # claim 2, as study.json says
    # one dot per seed: 3 seeds of every proxy in each world
    dots = _figure(dash_duo, forest, "gd.data.filter(t => t.name.endsWith('seeds'))"
                   ".map(t => t.x.length)")  # fmt: skip
    assert dots and set(dots) == {3}
    _wait_drawn(dash_duo, f"#{ids.STUDY_ALLOC_LAYER}")
    _screenshot(dash_duo, "study")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".problem")
    assert dash_duo.get_logs() == []
