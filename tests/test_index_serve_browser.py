"""`rsr-index serve` in a real browser: the system's headless Chromium, driven through Playwright, draws a stroke on
the search page's canvas with the mouse, searches, and sees thumbnails with rank, label and score (each image
loaded); an indexed photo uploaded through the page's file input finds itself first; a text file uploaded there
shows the server's refusal on the page. Every request the page makes stays on the local server.

The index is tiny and made here: photos of four Sketchy-twin classes (real class names that the offline GloVe
vectors know), encoded by a ZSCMR estimator fitted on those photos and their sketches in a few seconds, so that the
index has a sketch side. The server is the one `rsr-index serve` runs (`rsr_nb.index.serve.SearchServer`), on a
free localhost port in a background thread. Nothing is downloaded; about 30 s on two cores."""
import importlib.util
import shutil
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = 'apt-get install chromium (Debian), and pip install -e ".[dev]" for Playwright, FastAPI and uvicorn'
CLASSES = ["airplane", "apple", "cat", "dog"]
N_PER_CLASS = 5

# the share of the canvas that the drawn stroke inks, counted in the page
INK = """() => {
  const c = document.getElementById("sketch"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 128 && d[i + 1] < 128 && d[i + 2] < 128) n++;
  return n / (c.width * c.height);
}"""
ALL_LOADED = """() => {
  const imgs = [...document.querySelectorAll("#results figure.hit img")];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""


def need_browser():
    "Skip, saying how to install, where Chromium, Playwright or the serve extra is missing."
    if not CHROMIUM:
        pytest.skip(f"no Chromium on PATH to drive the search page: {INSTALL}")
    for mod in ("playwright", "fastapi", "uvicorn", "python_multipart"):
        if importlib.util.find_spec(mod) is None and not (mod == "python_multipart" and importlib.util.find_spec(
                "multipart")):  # python-multipart before 0.0.13 is imported as multipart
            pytest.skip(f"{mod} is not installed: {INSTALL}")


def write_twin(modality: str, root: Path) -> Path:
    "Sketch-twin photos or sketches of CLASSES as PNG files in class sub-folders."
    from rsr_nb.data.sim.sketch import SketchyTwin

    ds = SketchyTwin(modality, n_per_class=N_PER_CLASS, classes=CLASSES)
    for i in range(len(ds)):
        name = ds.classes[int(ds.labels[i])]
        arr = ds[i]["image"].permute(1, 2, 0).mul(255).round().byte().numpy()
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(root / name / f"{name}_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def sketch_index(tmp_path_factory) -> Path:
    "An index of the photos, built with a tiny fitted ZSCMR estimator (image and sketch sides)."
    need_browser()
    from rsr_nb.index.archive import build_index
    from rsr_nb.zscmr.estimator import ZSCMREstimator

    tmp = tmp_path_factory.mktemp("serve")
    photos, sketches = write_twin("photo", tmp / "photos"), write_twin("sketch", tmp / "sketches")
    est = ZSCMREstimator(stage1_epochs=5, epochs=5, backbone_input=32, hidden=64, stage1_hidden=64, d=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(photos, sketches)
    est.save(tmp / "zscmr.pt")
    ix = build_index(photos, tmp / "zscmr.pt", tmp / "index", show_progress=False)
    assert ix.meta["encoder"]["modalities"] == ["image", "sketch"]
    return tmp / "index"


@pytest.fixture(scope="module")
def server(sketch_index):
    "The server `rsr-index serve INDEX` runs (`SearchServer`, on a free localhost port, in a thread); its URL."
    from rsr_nb.index.serve import SearchServer

    srv = SearchServer(sketch_index, host="127.0.0.1", port=0).start()
    try:
        with urllib.request.urlopen(srv.url + "api/info", timeout=10) as r:
            assert r.status == 200
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def test_search_page_sketch_upload_and_refusal(server, browser, sketch_index, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server)

    about = page.inner_text("dl.about")
    assert "20" in about and "zscmr" in about and "image, sketch" in about, about

    # a zig-zag stroke, mouse down / move / up, across the canvas
    box = page.locator("#sketch").bounding_box()
    pts = [(0.15, 0.2), (0.8, 0.3), (0.2, 0.55), (0.85, 0.7), (0.5, 0.9)]
    page.mouse.move(box["x"] + pts[0][0] * box["width"], box["y"] + pts[0][1] * box["height"])
    page.mouse.down()
    for fx, fy in pts[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=8)
    page.mouse.up()
    ink = page.evaluate(INK)
    assert 0.01 < ink < 0.3, f"the stroke inked {ink:.1%} of the canvas"

    page.click("#search-sketch")
    page.wait_for_selector("#results figure.hit", timeout=30_000)
    hits = page.locator("#results figure.hit")
    assert hits.count() == 12  # the default k (20 items indexed)
    first = hits.first
    assert first.locator(".rank").inner_text().strip() == "#1"
    assert first.locator(".label").inner_text() in CLASSES
    score = float(first.locator(".score").inner_text())
    assert np.isfinite(score) and score <= 0  # Euclidean: a negated distance
    page.wait_for_function(ALL_LOADED, timeout=15_000)  # every thumbnail decoded (naturalWidth > 0)
    assert "sketch query" in page.inner_text("#status")
    page.screenshot(path=str(tmp_path / "sketch_results.png"), full_page=True)

    page.click("#clear")
    assert page.evaluate(INK) == 0
    page.click("#search-sketch")  # nothing drawn: the page says so, and sends nothing
    assert "draw a sketch" in page.inner_text("#error")

    # an indexed photo, uploaded through the file input, finds itself first
    photo = sorted((sketch_index.parent / "photos" / "cat").glob("*.png"))[0]
    page.set_input_files("#file", str(photo))
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('image query')")
    assert page.locator("#error").is_hidden()
    assert page.locator("#results figure.hit .path").first.inner_text() == str(photo)
    assert page.locator("#results figure.hit .label").first.inner_text() == "cat"
    page.wait_for_function(ALL_LOADED, timeout=15_000)

    # a text file is refused by the server, and the page shows its sentence
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a scene"}])
    page.wait_for_selector("#error:not([hidden])", timeout=15_000)
    msg = page.inner_text("#error")
    assert "notes.txt" in msg and "is not an image" in msg and "send a PNG" in msg, msg
    assert page.locator("#results figure.hit").count() == 0

    foreign = [u for u in requests if not u.startswith((server, "blob:", "data:"))]
    assert not foreign, f"the page reached beyond the local server: {foreign}"
    assert not errors, errors
    page.close()
