"""The project's shape: README and CI agree, notebooks are clean, run notebooks keep papermill's parameters cell."""
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_lines():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md needs a '## Quick start' section with one ```bash block"
    return [l for l in block.group(1).splitlines() if l.strip() and not l.startswith("#")]


def test_readme_has_exactly_two_quick_start_lines():
    lines = quick_start_lines()
    assert len(lines) == 2, lines
    assert "papermill nbs/run_dsrsid.ipynb out.ipynb -p d_v 64" in lines[0]
    assert "tools/test" in lines[1]


def test_ci_runs_the_readme_test_line():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_lines()[1] in ci, "the last command of .ci/run must be README's second quick-start line"


def test_nbdev_settings_keep_papermill_tags():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["nbdev"]
    assert cfg["allowed_cell_metadata_keys"] == ["tags"]
    assert set(cfg["tst_flags"].split()) >= {"notest", "slow", "gpu"}


def test_notebooks_are_clean_and_run_notebooks_have_parameters():
    nbs = sorted((ROOT / "nbs").rglob("*.ipynb"))
    assert nbs
    for p in nbs:
        nb = json.loads(p.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") for c in code), f"{p.name} has outputs: run nbdev-clean"
        if p.name.startswith("run_"):
            first = code[0]
            assert "parameters" in first.get("metadata", {}).get("tags", []), f"{p.name}: first code cell must be tagged 'parameters'"
            assert not any("default_exp" in "".join(c["source"]) for c in code), f"{p.name}: run notebooks are not exported"


def test_results_md_and_findings_are_generated_from_results_files():
    from rsr_nb.report import update_results
    stale = update_results(ROOT, check=True)
    assert not stale, f"{stale} differ from what `python tools/results_md` writes from results/: run it"


def test_no_file_cites_anything_outside_the_repository():
    bad = ("DESIGN.md", "PROTOCOLS.md", "thesis-slides", "../shared")
    for p in list((ROOT / "nbs").rglob("*.ipynb")) + list((ROOT / "rsr_nb").rglob("*.py")) + [ROOT / "README.md"]:
        text = p.read_text()
        for b in bad:
            assert b not in text, f"{p.relative_to(ROOT)} mentions {b}"
