"""The docs site (`tools/docs`) reads as documentation: no directive lines or hidden cells, an API section on each
library page, and equations that render without a network (a local MathJax, no script or style from a CDN).

One page (the metrics notebook) is rendered once, without executing it, into a temporary folder (~10 s)."""
import html
import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = "nbs/foundation/02_metrics.ipynb"
PAGE = "foundation_02_metrics.html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def load_docs():
    "tools/docs (a script without .py) as a module."
    loader = importlib.machinery.SourceFileLoader("rsr_tools_docs", str(ROOT / "tools" / "docs"))
    spec = importlib.util.spec_from_loader("rsr_tools_docs", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def text_of(fragment: str) -> str:
    "What a reader sees: tags dropped, entities decoded (code is split into syntax-highlighting spans)."
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "tools/docs", "--out", str(out), "--only", NB], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"tools/docs --only {NB} failed:\n{r.stdout}\n{r.stderr}"
    assert (out / PAGE).is_file()
    return out


@pytest.fixture(scope="module")
def page(site) -> str:
    return (site / PAGE).read_text()


def test_no_directive_lines(page):
    i = page.find("#|")
    assert i == -1, "a `#| ...` directive line is shown: " + page[i - 200 : i + 100]


def test_hidden_cells_are_left_out(page):
    nb = nbformat.read(ROOT / NB, as_version=4)
    first_line = re.compile(r"\s*#\s*\|\s*hide\s*$")
    hidden = [c.source for c in nb.cells if c.cell_type == "code" and first_line.match(c.source.split("\n", 1)[0])]
    assert hidden, f"{NB} has no `#| hide` cell any more: pick another notebook for this test"
    text = text_of(page)
    for src in hidden:
        for line in src.splitlines()[1:]:
            if line.strip():
                assert line.strip() not in text, f"a line of a `#| hide` cell is shown: {line!r}"


def test_exported_code_is_shown_without_its_directive(page):
    inputs = [text_of(m).strip() for m in re.findall(r'<div class="jp-CodeMirrorEditor.*?</pre>', page, re.S)]
    first = next(i for i in inputs if "relevance_from_labels(q_labels, g_labels)" in i)
    assert first.startswith("def relevance_from_labels(q_labels, g_labels) -> torch.Tensor:"), first[:200]
    assert not any(re.match(r"default_exp", i) for i in inputs)  # `#| default_exp metrics` alone: no empty cell


def entry(api: str, name: str) -> str:
    "The HTML of one name's entry in the API section: from its heading to the next name's."
    i = api.find(f'<h3 id="{name}"')
    assert i != -1, f"no API entry for {name}"
    j = api.find("<h3 ", i + 1)
    return api[i : j if j != -1 else len(api)]


def row(fragment: str, parameter: str) -> str | None:
    "The text of the parameter table row whose first cell is `parameter`, or None."
    for r in re.findall(r"<tr>.*?</tr>", fragment, re.S):
        cells = [text_of(c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)]
        if cells and cells[0] == parameter:
            return " | ".join(cells)
    return None


def test_api_section_with_signatures_and_parameter_docs(page):
    i = page.find('<h2 id="API"')
    assert i != -1, "the page has no API section"
    api = page[i:]
    text = text_of(api)
    assert "def relevance_from_labels(q_labels, g_labels) -> torch.Tensor" in text
    assert "Boolean Q x G relevance" in text  # its docstring
    assert row(entry(api, "relevance_from_labels"), "q_labels") is not None
    assert row(entry(api, "relevance_from_labels"), "g_labels") is not None
    assert "torch.Tensor" in row(entry(api, "relevance_from_labels"), "returns")
    # a class's parameters documented with docments comments: type, default and comment, in the parameter's row
    assert "class RetrievalProtocol(" in text
    metric = row(entry(api, "RetrievalProtocol"), "metric")
    assert metric and all(s in metric for s in ("str", "'euclidean'", "similarity for ranking")), metric
    assert "def evaluate_retrieval(" in text and "Q x d query embeddings" in text


def test_no_script_or_style_from_the_network(site):
    bad = re.compile(r"""<script[^>]*\ssrc=["']?https?:|<link[^>]*\shref=["']?https?:|import\(["']https?:|"""
                     r"""@import\s+(?:url\()?["']?https?:""", re.I)
    pages = sorted(site.glob("*.html"))
    assert len(pages) >= 2  # the page and the index
    for p in pages:
        found = bad.findall(p.read_text())
        assert not found, f"{p.name} loads from the network: {found}"


def test_maths_renderer_is_in_the_site(site, page):
    m = re.search(r"""<script[^>]*\ssrc=["']([^"']*MathJax\.js)(?:\?config=([^"']*))?["']""", page)
    assert m, "the page loads no MathJax.js"
    js = (site / m.group(1)).resolve()
    assert js.is_file() and js.is_relative_to(site.resolve()), f"{m.group(1)} is not in the site"
    for cfg in (m.group(2) or "").split(","):
        assert (js.parent / "config" / f"{cfg}.js").is_file(), f"MathJax config {cfg} is not in the site"


def test_directives_follow_nbdev(tmp_path):
    docs = load_docs()
    code = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        code("#| default_exp thing"),
        code("#| export\ndef f(): pass"),
        code("#|hide\nhidden_1 = 1"),
        code("#| include: false\nhidden_2 = 2"),
        code("#| exporti\nhidden_3 = 3"),
        code("hidden_4 = 4", metadata={"nbdev": {"hide": "true"}}),
        code("#| echo: false\nno_source = 5", outputs=[nbformat.v4.new_output("stream", text="echo-output")]),
        code("#| output: false\nno_output = 6", outputs=[nbformat.v4.new_output("stream", text="hidden-output")]),
        code("#| notest\nshown = 7  # |x| is a comment, not a directive\nsecret = 8 #| hide_line"),
        nbformat.v4.new_markdown_cell("text with #| in it stays"),
    ])
    assert docs.default_exp(nb) == "thing"
    cells = docs.docs_cells(nb).cells
    sources = [c.source for c in cells]
    assert sources[0] == "def f(): pass"
    assert not any("hidden_" in s for s in sources)
    echo = next(c for c in cells if "no_source" in c.source)
    assert echo.metadata["transient"]["remove_source"] and echo.outputs
    assert next(c for c in cells if "no_output" in c.source).outputs == []
    assert "shown = 7  # |x| is a comment, not a directive" in sources and not any("secret" in s for s in sources)
    assert sources[-1] == "text with #| in it stays"
    body, _ = docs.HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert "echo-output" in body and "no_source" not in body and "hidden-output" not in body


def test_missing_mathjax_package_is_a_clear_error(tmp_path, monkeypatch):
    docs = load_docs()
    monkeypatch.setitem(sys.modules, "jupyter_server_mathjax", None)  # import fails as if not installed
    with pytest.raises(SystemExit, match="pip install jupyter-server-mathjax"):
        docs.copy_mathjax(tmp_path)


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium to render the page headless: apt-get install -y chromium "
                                         "(Debian; the test looks for `chromium` on PATH)")
def test_equations_render_offline_in_a_browser(site, tmp_path):
    "Chromium with every host name unresolvable renders the page's equations with the site's MathJax."
    r = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={tmp_path}", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000",
         "--dump-dom", (site / PAGE).as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    dom = r.stdout
    assert "<main" in dom, f"chromium dumped no page (rc {r.returncode}):\n{r.stderr[-2000:]}"
    assert dom.count('class="MathJax_Display"') >= 3, "the display equations were not typeset"
    assert dom.count('class="MathJax"') >= 20, "the inline equations were not typeset"
    assert not re.search(r'class="[^"]*\b(?:merror|MathJax_Error)\b', dom), "MathJax reported an error"
