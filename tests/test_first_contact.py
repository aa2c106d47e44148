"""What a new user meets first: README's first command leaves a clean checkout, the library changes nothing
process-wide, saved notebooks carry one progress line per step, README is a short guide, and the install says what it
pulls."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# the main job's smallest settings (tests/test_run_notebooks.py uses the same)
TINY_DSRSID = dict(n_per_class=12, pan_size=32, epochs_stage1=2, epochs=5, baselines=["CCA"], show_figures=False)


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _quick_start_papermill():
    "README's first quick-start line, its papermill part: (notebook, output, {name: value})."
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S).group(1)
    line = [l for l in block.splitlines() if l.strip()][0]
    words = line.split("papermill ", 1)[1].split()
    params = {words[i + 1]: words[i + 2] for i, w in enumerate(words) if w == "-p"}
    return words[0], words[1], {k: int(v) if v.isdigit() else v for k, v in params.items()}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_first_quick_start_command_leaves_the_checkout_clean(tmp_path):
    notebook, output, params = _quick_start_papermill()
    assert (notebook, output) == ("nbs/run_dsrsid.ipynb", "out.ipynb")
    assert _git("check-ignore", output).strip() == output, f"README's output notebook {output} must be git-ignored"
    before = _git("status", "--porcelain", "--untracked-files=all")
    runs = ROOT / "runs"
    existed = runs.exists()
    try:
        # README's command as it stands, from the repository root (smaller settings, same defaults for out_dir)
        pm.execute_notebook(str(ROOT / notebook), str(tmp_path / output), parameters={**params, **TINY_DSRSID},
                            cwd=str(ROOT), progress_bar=False)
        written = runs / f"dsrsid_dv{params['d_v']}.json"
        assert written.exists(), "the run notebook's results file goes to the untracked runs/ folder by default"
        assert _git("status", "--porcelain", "--untracked-files=all") == before, "README's first command changed the checkout"
    finally:
        if not existed:
            shutil.rmtree(runs, ignore_errors=True)


PROCESS_WIDE = {"mallopt", "keep_freed_memory", "skip_final_collection", "freeze", "disable", "set_threshold"}
OPT_IN_HOMES = {"keep_freed_memory", "skip_final_collection"}  # core's opt-in functions: the only places allowed


def _process_wide_calls(tree):
    "Names of calls in `tree` that change a process-wide setting, outside core's two opt-in functions."
    found = []

    def visit(node, inside):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside = inside or node.name in OPT_IN_HOMES
        if isinstance(node, ast.Call) and not inside:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            owner = getattr(f.value, "id", None) if isinstance(f, ast.Attribute) else None
            if name in {"mallopt", "keep_freed_memory", "skip_final_collection"} or (owner == "gc" and name in PROCESS_WIDE):
                found.append(name)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def test_no_process_wide_setting_on_the_default_path():
    sources = {p: p.read_text() for p in (ROOT / "rsr_nb").rglob("*.py")}
    for p in sorted((ROOT / "nbs").glob("run_*.ipynb")):
        cells = json.loads(p.read_text())["cells"]
        sources[p] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for path, text in sources.items():
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith(("%", "!")))  # IPython magics
        calls = _process_wide_calls(ast.parse(text))
        assert not calls, f"{path.relative_to(ROOT)} calls {calls}: the library must change nothing process-wide"


def test_training_and_a_run_notebooks_check_change_nothing_process_wide():
    "In a fresh process that looks like a Jupyter kernel: fit and Experiment.from_notebook leave malloc and gc alone."
    script = textwrap.dedent(
        """
        import gc, os
        os.environ["RSR_PROGRESS"] = "0"
        import torch
        import rsr_nb.core as core
        core._in_ipython_kernel = lambda: True  # as in papermill's kernel, where the exit hook used to be registered
        from rsr_nb.training import fit, tensor_batches
        from rsr_nb.cmirnet.pipelines import DSRSIDExperiment
        thresholds = gc.get_threshold()
        lin = torch.nn.Linear(3, 1)
        x, y = torch.randn(64, 3), torch.randn(64)
        fit([lin], lambda a, b: {"total": ((lin(a)[:, 0] - b) ** 2).mean()}, tensor_batches((x, y), 32, 0), 2)
        DSRSIDExperiment.from_notebook(DSRSIDExperiment().params())
        assert core._freed_memory_kept is None, "fit asked glibc to keep freed memory"
        assert not core._exit_hook_registered, "from_notebook registered gc.freeze at exit"
        assert gc.isenabled() and gc.get_threshold() == thresholds and gc.get_freeze_count() == 0
        print("unchanged")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "unchanged" in out.stdout, out.stderr[-3000:]


def test_a_saved_notebook_carries_one_progress_line_per_step(tmp_path, monkeypatch):
    monkeypatch.setenv("RSR_PROGRESS", "1")  # tools/test silences progress; this test is about what it looks like
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import time\n"
            "from rsr_nb.core import progress\n"
            "for _ in progress(range(12), desc='step one', mininterval=0.01):\n"
            "    time.sleep(0.1)\n"
            "for _ in progress(range(3), desc='step two'):\n"
            "    time.sleep(0.05)\n"
            "print('done')"
        )
    ]
    src, out = tmp_path / "progress.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(str(src), str(out), cwd=str(tmp_path), progress_bar=False, kernel_name="python3")
    outputs = nbformat.read(out, as_version=4).cells[0].outputs
    streams = [o for o in outputs if o.output_type == "stream"]
    assert not [o for o in streams if o.name == "stderr"], [o.text for o in streams]  # no red blocks
    lines = "".join(o.text for o in streams if o.name == "stdout").splitlines()
    assert [l for l in lines if l.startswith("step one")] == [lines[0]] and len(lines) == 3, lines
    assert re.fullmatch(r"step one: 12/12 it in 00:0\d", lines[0]) and lines[1].startswith("step two: 3/3"), lines


def test_readme_is_a_short_guide():
    lines = README.splitlines()
    assert len(lines) <= 250, f"README has {len(lines)} lines: tables go to RESULTS.md, timings to benchmarks/README.md"
    for heading in ("## Findings at a glance", "## Quick start", "## On your own data", "## Experiments"):
        assert heading in README, heading
    findings = README.split("<!-- findings:start -->", 1)[1].split("<!-- findings:end -->", 1)[0]
    rows = [l for l in findings.splitlines() if l.startswith("| [")]
    assert len(rows) >= 8 and all("](RESULTS.md#" in r for r in rows), findings
    assert {r.split(" | ")[1] for r in rows} <= {"real", "simulated", "see section"}
    hashes = re.findall(r"(?<![\w/.#-])[0-9a-f]{7,40}(?![\w-])", README)
    assert not [h for h in hashes if re.search(r"[a-f]", h) and re.search(r"\d", h)], hashes  # no commit hashes
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", README), "README carries no dated timing diary"
    assert "results:start" not in README, "the generated tables live in RESULTS.md"


def test_results_md_links_resolve():
    results = (ROOT / "RESULTS.md").read_text()
    from rsr_nb.report import _anchor

    anchors = {_anchor(h) for h in re.findall(r"^#+ (.*)$", results, re.M)}
    for anchor in re.findall(r"\]\(RESULTS\.md#([^)]+)\)", README):
        assert anchor in anchors, f"README links to RESULTS.md#{anchor}, which has no such heading"


def _requirement_names(reqs):
    return {re.split(r"[<>=!~\[ ;]", r, 1)[0].lower().replace("_", "-") for r in reqs}


def test_development_packages_live_in_the_dev_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev = _requirement_names(project["optional-dependencies"]["dev"])
    assert not runtime & {"pytest", "nbdev", "playwright"}, runtime & {"pytest", "nbdev", "playwright"}
    assert {"pytest", "nbdev"} <= dev
    # what a user of README's first line and a reader of the notebooks need stays in the install (faiss: rsr-index)
    assert {"papermill", "ipykernel", "jupyterlab", "fastcore", "torch", "faiss-cpu"} <= runtime


def test_readme_says_what_the_install_pulls():
    assert "CUDA" in README and "download.pytorch.org/whl/cpu" in README
    cpu_line = next(l for l in README.splitlines() if "download.pytorch.org/whl/cpu" in l)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["dependencies"] if r.startswith("torch>") or r.startswith("torch<"))
    upper = re.search(r"<=?\s*([\d.]+)", torch_req).group(1)
    assert upper in cpu_line, f"README's CPU-wheel line must respect the project's torch cap ({torch_req})"
