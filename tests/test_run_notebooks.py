"""Run notebooks through papermill, as a user would: parameters reach the notebook, runs are reproducible, bad values
stop the run early and leave no results file."""
import json
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_DSRSID = dict(n_per_class=12, pan_size=32, epochs_stage1=2, epochs=5, baselines=["CCA", "SCM-Seq"], show_figures=False)


def run(nb, tmp_path, **params):
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs" / nb), str(out), parameters={"out_dir": str(tmp_path / "results"), **params},
                        cwd=str(tmp_path), progress_bar=False)
    return out


def test_run_dsrsid_writes_results_and_is_reproducible(tmp_path):
    run("run_dsrsid.ipynb", tmp_path, d_v=16, **TINY_DSRSID)
    first = json.loads((tmp_path / "results" / "dsrsid_dv16.json").read_text())
    assert first["dataset"]["source"] == "simulated" and first["params"]["d_v"] == 16
    tasks = {(r["method"], r["task"]) for r in first["rows"]}
    assert {("CMIR-NET", t) for t in ("Pan->Mul", "Mul->Pan", "Pan->Pan", "Mul->Mul")} <= tasks
    assert ("SCM-Seq", "Pan->Mul") in tasks
    assert all(set(r) >= {"method", "task", "metric", "protocol", "value", "paper"} for r in first["rows"])
    run("run_dsrsid.ipynb", tmp_path, d_v=16, **TINY_DSRSID)
    second = json.loads((tmp_path / "results" / "dsrsid_dv16.json").read_text())
    assert [r["value"] for r in first["rows"]] == [r["value"] for r in second["rows"]], "same seed, different numbers"


@pytest.mark.parametrize("params,message", [
    (dict(d_v=0), "d_v must be an integer >= 1"),
    (dict(lambda3=-1.0), "lambda3 must be a non-negative number"),
    (dict(data="fake"), "data must be 'simulated' or 'real'"),
    (dict(seeds=[]), "seeds must be a non-empty list"),
])
def test_run_dsrsid_rejects_bad_parameters(tmp_path, params, message):
    with pytest.raises(pm.PapermillExecutionError, match=message):
        run("run_dsrsid.ipynb", tmp_path, **{**TINY_DSRSID, **params})
    assert not (tmp_path / "results").exists()


def test_run_dsrsid_real_without_file_says_how_to_get_it(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="no direct download"):
        run("run_dsrsid.ipynb", tmp_path, data="real", data_root=str(tmp_path / "nothing"), **TINY_DSRSID)
    assert not (tmp_path / "results").exists()
