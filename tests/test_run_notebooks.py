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
    (dict(lambda3=-1.0), "lambda3 must be a number >= 0"),
    (dict(data="fake"), "data must be one of"),
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


TINY_UCM = dict(d_vs=[32], n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3,
                baselines=["CCA"], show_figures=False)


def test_run_ucm_speech_simulated(tmp_path):
    run("run_ucm_speech.ipynb", tmp_path, **TINY_UCM)
    res = json.loads((tmp_path / "results" / "ucm_speech.json").read_text())
    assert res["dataset"]["source"] == "simulated"
    assert {(r["method"], r["task"]) for r in res["rows"]} == {(m, t) for m in ("CMIR-NET", "CCA") for t in ("Img->Aud", "Aud->Img")}
    paper = [r for r in res["rows"] if r["paper"] is not None]
    assert paper and all(r["protocol"] != "standard" or r["metric"] == "P@10" for r in paper), "a paper number beside a standard mAP"


def test_run_ucm_speech_real_data(tmp_path):
    from rsr_nb.core import data_root
    if not (data_root() / "ucmerced" / "speech" / "speech.mat").is_file():
        pytest.skip("RSR_DATA does not hold ucmerced/ with the speech features (CI uses ../shared/data)")
    run("run_ucm_speech.ipynb", tmp_path, data="real", **{k: v for k, v in TINY_UCM.items() if k not in ("n_per_class", "image_size")})
    res = json.loads((tmp_path / "results" / "ucm_speech.json").read_text())
    assert res["dataset"]["source"] == "real" and res["dataset"]["images"]["size"] == 2100 and res["dataset"]["speech"]["size"] == 255


def test_run_ucm_speech_real_without_files(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="not found"):
        run("run_ucm_speech.ipynb", tmp_path, data="real", data_root=str(tmp_path / "none"), **TINY_UCM)
    assert not (tmp_path / "results").exists()


def test_run_cmirnet_ablation_small_grid(tmp_path):
    run("run_cmirnet_ablation.ipynb", tmp_path, d_v=16, n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3,
        lambda1_grid=[1e-5], lambda34_grid=[0.01], lambda5_grid=[1.0], alpha_grid=[0.0], show_figures=False)
    res = json.loads((tmp_path / "results" / "cmirnet_ablation.json").read_text())
    assert {r["parameter"] for r in res["rows"]} == {"base", "lambda1", "lambda3=lambda4", "lambda5", "alpha"}


def test_run_cmirnet_ablation_rejects_negative_grid(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="each value of lambda5_grid must be a number >= 0"):
        run("run_cmirnet_ablation.ipynb", tmp_path, lambda5_grid=[-1.0])
    assert not (tmp_path / "results").exists()


def test_run_dsrsid_rejects_a_split_without_test_pairs(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="leaves no test pair"):
        run("run_dsrsid.ipynb", tmp_path, **{**TINY_DSRSID, "n_per_class": 10, "test_fraction": 0.04})
    assert not (tmp_path / "results").exists()
