"""Run notebooks through papermill, as a user would: parameters reach the notebook, runs are reproducible, bad values
and unknown names stop the run early and leave no results file, results are above chance, splits do not leak."""
import json
from pathlib import Path

import numpy as np
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_DSRSID = dict(n_per_class=12, pan_size=32, epochs_stage1=2, epochs=5, baselines=["CCA", "SCM-Seq"], show_figures=False)
TINY_UCM = dict(d_vs=[32], n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3,
                baselines=["CCA"], show_figures=False)
TINY_ABLATION = dict(d_v=16, n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3,
                     lambda1_grid=[1e-5], lambda34_grid=[0.01], lambda5_grid=[1.0], alpha_grid=[0.0], show_figures=False)
TINY_SELECTION = dict(d_v=16, n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3)
TINY_DIAGNOSIS = dict(n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3, d_v=8,
                      show_figures=False)
TINY_GRAPHS = dict(n_per_class=5, image_size=48, region_size=12, epochs=2, backbone_input=32, n_jobs=1,
                   show_figures=False)
TINY_SGCN = dict(TINY_GRAPHS, siamese_epochs=2, pairs_per_epoch=64, validation_fraction=0.25)
RUN_NOTEBOOKS = {"run_dsrsid.ipynb": TINY_DSRSID, "run_ucm_speech.ipynb": TINY_UCM,
                 "run_cmirnet_ablation.ipynb": TINY_ABLATION, "run_cmirnet_lambda_selection.ipynb": TINY_SELECTION,
                 "run_cmirnet_diagnosis.ipynb": TINY_DIAGNOSIS, "run_ucm_multilabel.ipynb": TINY_GRAPHS,
                 "run_sgcn_cbir.ipynb": TINY_SGCN}


def run(nb, tmp_path, **params):
    out = tmp_path / "out.ipynb"
    if "region_size" in RUN_NOTEBOOKS.get(nb, {}) and "cache_dir" not in params:  # graph notebooks: a private cache
        params["cache_dir"] = str(tmp_path / "cache")
    pm.execute_notebook(str(ROOT / "nbs" / nb), str(out), parameters={"out_dir": str(tmp_path / "results"), **params},
                        cwd=str(tmp_path), progress_bar=False)
    return out


def rows(path):
    return json.loads(Path(path).read_text())["rows"]


def test_every_run_notebook_is_tested():
    assert {p.name for p in (ROOT / "nbs").glob("run_*.ipynb")} == set(RUN_NOTEBOOKS)


def test_run_dsrsid_writes_results_and_is_reproducible(tmp_path):
    run("run_dsrsid.ipynb", tmp_path, d_v=16, **TINY_DSRSID)
    first = json.loads((tmp_path / "results" / "dsrsid_dv16.json").read_text())
    assert first["dataset"]["source"] == "simulated" and first["params"]["d_v"] == 16
    assert first["command"].startswith("papermill nbs/run_dsrsid.ipynb out.ipynb -p d_v 16")
    assert {"commit", "torch_threads", "platform"} <= set(first["versions"])
    tasks = {(r["method"], r["task"]) for r in first["rows"]}
    assert {("CMIR-NET", t) for t in ("Pan->Mul", "Mul->Pan", "Pan->Pan", "Mul->Mul")} <= tasks
    assert ("SCM-Seq", "Pan->Mul") in tasks
    assert all(set(r) >= {"method", "task", "metric", "protocol", "value", "paper"} for r in first["rows"])
    run("run_dsrsid.ipynb", tmp_path, d_v=16, **TINY_DSRSID)
    second = json.loads((tmp_path / "results" / "dsrsid_dv16.json").read_text())
    assert [r["value"] for r in first["rows"]] == [r["value"] for r in second["rows"]], "same seed, different numbers"


@pytest.mark.parametrize("nb", sorted(RUN_NOTEBOOKS))
def test_unknown_parameter_stops_every_run_notebook(tmp_path, nb):
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown parameter\(s\) dv .*known parameters: "):
        run(nb, tmp_path, dv=64, **RUN_NOTEBOOKS[nb])
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("nb,params,message", [
    ("run_dsrsid.ipynb", dict(d_v=0), "d_v must be an integer >= 1"),
    ("run_dsrsid.ipynb", dict(lambda3=-1.0), "lambda3 must be a number >= 0"),
    ("run_dsrsid.ipynb", dict(data="fake"), "data must be one of"),
    ("run_dsrsid.ipynb", dict(seeds=[]), "seeds must be a non-empty list"),
    ("run_dsrsid.ipynb", dict(seeds=[1, 1]), "seeds must be distinct"),
    ("run_dsrsid.ipynb", dict(epochs=0), "epochs must be an integer >= 1"),
    ("run_dsrsid.ipynb", dict(n_per_class=10, test_fraction=0.04), "leaves no test pair"),
    ("run_ucm_speech.ipynb", dict(epochs_stage1=0), "epochs_stage1 must be an integer >= 1"),
    ("run_ucm_speech.ipynb", dict(seeds=[0, 0]), "seeds must be distinct"),
    ("run_ucm_speech.ipynb", dict(test_fraction=0.02, n_per_class=60), "leaves no test clip per label"),
    ("run_cmirnet_ablation.ipynb", dict(lambda5_grid=[-1.0]), "each value of lambda5_grid must be a number >= 0"),
    ("run_cmirnet_ablation.ipynb", dict(test_fraction=0.02, n_per_class=60), "leaves no test clip per label"),
    ("run_cmirnet_lambda_selection.ipynb", dict(validation_fraction=0.9), "validation_fraction must be a number"),
    ("run_cmirnet_diagnosis.ipynb", dict(dataset="sketchy"), "dataset must be one of"),
    ("run_sgcn_cbir.ipynb", dict(dataset="imagenet"), "dataset must be one of"),
    ("run_sgcn_cbir.ipynb", dict(region_size=0), "region_size must be a positive integer"),
    ("run_sgcn_cbir.ipynb", dict(region_size=-5), "region_size must be a positive integer"),
    ("run_sgcn_cbir.ipynb", dict(margin=0.0), "margin must be > 0"),
    ("run_sgcn_cbir.ipynb", dict(validation_fraction=0.1), "leaves no test or no validation image"),
    ("run_ucm_multilabel.ipynb", dict(threshold=1.5), "threshold must be a number strictly between 0 and 1"),
    ("run_ucm_multilabel.ipynb", dict(threshold=0.0), "threshold must be a number strictly between 0 and 1"),
    ("run_ucm_multilabel.ipynb", dict(region_size=0), "region_size must be a positive integer"),
    ("run_ucm_multilabel.ipynb", dict(hidden=[]), "hidden must be a list"),
])
def test_bad_parameters_stop_early_without_results(tmp_path, nb, params, message):
    with pytest.raises(pm.PapermillExecutionError, match=message):
        run(nb, tmp_path, **{**RUN_NOTEBOOKS[nb], **params})
    assert not (tmp_path / "results").exists()


def test_run_dsrsid_real_without_file_says_how_to_get_it(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="no direct download"):
        run("run_dsrsid.ipynb", tmp_path, data="real", data_root=str(tmp_path / "nothing"), **TINY_DSRSID)
    assert not (tmp_path / "results").exists()


def test_run_ucm_speech_simulated(tmp_path):
    run("run_ucm_speech.ipynb", tmp_path, **TINY_UCM)
    res = json.loads((tmp_path / "results" / "ucm_speech.json").read_text())
    assert res["dataset"]["source"] == "simulated"
    methods = ("CMIR-NET", "CCA", "Label space (stage 1)", "Label space (LogReg)", "Stage 1 only", "Chance (random embedding)")
    assert {(r["method"], r["task"]) for r in res["rows"]} == {(m, t) for m in methods for t in ("Img->Aud", "Aud->Img")}
    paper = [r for r in res["rows"] if r["paper"] is not None]
    assert paper and all(r["metric"] in ("P@10", "meanP@10..50") for r in paper), "a paper number beside a standard mAP"


def test_run_ucm_speech_real_data_is_clearly_above_chance(tmp_path):
    from rsr_nb.core import data_root
    if not (data_root() / "ucmerced" / "speech" / "speech.mat").is_file():
        pytest.skip("RSR_DATA does not hold ucmerced/ with the speech features (CI uses ../shared/data)")
    run("run_ucm_speech.ipynb", tmp_path, data="real", d_vs=[64], backbone_input=64, epochs_stage1=20, epochs=20,
        baselines=[], show_figures=False)
    res = json.loads((tmp_path / "results" / "ucm_speech.json").read_text())
    assert res["dataset"]["source"] == "real" and res["dataset"]["images"]["size"] == 2100
    assert res["dataset"]["speech"]["size"] == 255
    # chance: a random ranking's mAP is about the share of relevant gallery items, about 0.20 for both directions here
    from rsr_nb.data import get_dataset
    img = get_dataset("ucmerced-multilabel", "real").labels.numpy() > 0
    sp = get_dataset("ucmerced-speech", "real").labels.numpy()
    chance = {"Img->Aud": img[:, sp].mean(), "Aud->Img": img[:, sp].mean()}
    for r in res["rows"]:
        if r["method"] == "CMIR-NET" and r["metric"] == "mAP@all":
            assert r["value"] > 100 * chance[r["task"]] + 10, (r, chance)


def test_run_ucm_speech_real_without_files(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="not found"):
        run("run_ucm_speech.ipynb", tmp_path, data="real", data_root=str(tmp_path / "none"), **TINY_UCM)
    assert not (tmp_path / "results").exists()


def test_run_cmirnet_ablation_small_grid(tmp_path):
    run("run_cmirnet_ablation.ipynb", tmp_path, **TINY_ABLATION)
    res = rows(tmp_path / "results" / "cmirnet_ablation.json")
    assert {r["parameter"] for r in res} == {"base", "lambda1", "lambda3=lambda4", "lambda5", "alpha", "-"}
    assert {r["base"] for r in res} == {"rsr_nb", "thesis", "reference"}   # reference: simple baselines and chance
    with_paper = [r for r in res if r["paper"] is not None]
    assert all(r["base"] == "thesis" for r in with_paper), "a thesis number beside a row not run around its weights"


def test_lambda_selection_reports_a_choice_per_seed(tmp_path):
    run("run_cmirnet_lambda_selection.ipynb", tmp_path, **TINY_SELECTION, seeds=[0, 1])
    res = json.loads((tmp_path / "results" / "cmirnet_lambda_selection.json").read_text())
    assert set(res["chosen"]) == {"0", "1"}
    assert all(r["split"] == "validation" for r in res["rows"])


def test_pipelines_never_train_on_test_queries():
    """Every pipeline's training items (and stage-2 pairs) are disjoint from its test queries, for every seed."""
    from rsr_nb.cmirnet import pipelines as P
    cfg = P.DSRSIDExperiment(**{**TINY_DSRSID, "seeds": [0, 1]})
    out = P.run_dsrsid(cfg, P.load_dsrsid(cfg))
    for s in out.splits.values():
        assert not set(s["train"]) & set(s["test"])
    ucm = P.UCMSpeechExperiment(**{**TINY_UCM, "seeds": [0, 1], "baselines": []})
    out = P.run_ucm_speech(ucm, P.load_ucm_speech(ucm))
    for s in out.splits.values():
        assert not set(s["img_train"]) & set(s["img_test"]) and not set(s["sp_train"]) & set(s["sp_test"])
        assert not set(s["pair_img"]) & set(s["img_test"]) and not set(s["pair_sp"]) & set(s["sp_test"])
    sel = P.LambdaSelection(**{**TINY_SELECTION, "seeds": [0], "epochs": 1})
    data = P.load_ucm_speech(sel)
    out = P.run_lambda_selection(sel, data)
    from rsr_nb.data import stratified_split
    test_img = stratified_split(data.img_scenes.numpy(), (0.8, 0.2), seed=0)[1]
    s = out.splits[0]
    assert set(s["img_val"]) <= set(s["img_train"]) and not set(s["img_train"]) & set(test_img)


def test_run_dsrsid_defaults_separate_the_methods_as_readme_says(tmp_path):
    """README (generated from results/) says CMIR-NET beats CCA and SCM-Orth on the twin; the defaults must show it."""
    run("run_dsrsid.ipynb", tmp_path, baselines=["CCA", "SCM-Orth"], show_figures=False)
    from rsr_nb.cmirnet.report import beats
    import pandas as pd
    df = pd.DataFrame(rows(tmp_path / "results" / "dsrsid_dv64.json"))
    for rival in ("CCA", "SCM-Orth"):
        held, sentence = beats(df, "CMIR-NET", rival)
        assert held, sentence
    chance = 100 / 8
    assert df[(df.method == "CMIR-NET") & (df.metric == "mAP@all")]["value"].min() > 3 * chance


def test_graph_notebooks_without_real_files_say_where_to_put_them(tmp_path):
    for nb, message in (("run_ucm_multilabel.ipynb", "not found"), ("run_sgcn_cbir.ipynb", "not found")):
        with pytest.raises(pm.PapermillExecutionError, match=message):
            run(nb, tmp_path, data="real", data_root=str(tmp_path / "none"), **RUN_NOTEBOOKS[nb])
        assert not (tmp_path / "results").exists()
    with pytest.raises(pm.PapermillExecutionError, match="PatternNet"):
        run("run_sgcn_cbir.ipynb", tmp_path, dataset="patternnet", data="real", data_root=str(tmp_path / "none"),
            **TINY_SGCN)


def test_graph_notebooks_on_the_twins_write_every_row(tmp_path):
    run("run_ucm_multilabel.ipynb", tmp_path, **TINY_GRAPHS)
    ml = json.loads((tmp_path / "results" / "ucm_multilabel.json").read_text())
    assert {r["method"] for r in ml["rows"]} >= {"GCN", "SVC", "ML-kNN", "Gaussian NB", "LogReg (ImageNet features)",
                                                 "Chance (label frequencies)"}
    paper = [r for r in ml["rows"] if r["paper"] is not None]
    assert {r["metric"] for r in paper} == {"F1", "precision", "recall", "hamming_loss"}
    assert all(r["method"] == "GCN" for r in paper)
    run("run_sgcn_cbir.ipynb", tmp_path, dataset="patternnet", **TINY_SGCN)
    sg = json.loads((tmp_path / "results" / "sgcn_patternnet.json").read_text())
    assert {r["method"] for r in sg["rows"]} == {"SGCN", "GCN", "CNN (ImageNet features)", "Chance (random embedding)"}
    assert all(r["paper"] is None for r in sg["rows"]), "a paper number beside a simulated result"


def test_graph_pipelines_never_train_on_test_images(tmp_path):
    """SGCN: no test image in the GCN's or the Siamese head's training; multi-label: train / validation / test apart."""
    from rsr_nb.graphs import pipelines as G
    cfg = G.SGCNExperiment(**{**TINY_SGCN, "seeds": [0, 1], "cache_dir": str(tmp_path)})
    out = G.run_sgcn(cfg, G.load_graph_data(cfg, "ucmerced"))
    for s in out.splits.values():
        assert not set(s["train"]) & set(s["test"]) and set(s["gcn_validation"]) <= set(s["train"])
    ml = G.UCMMultiLabelExperiment(**{**TINY_GRAPHS, "cache_dir": str(tmp_path)})
    out = G.run_ucm_multilabel(ml, G.load_graph_data(ml, "ucmerced", multilabel=True))
    s = out.splits[0]
    assert not (set(s["train"]) & set(s["validation"]) or set(s["train"]) & set(s["test"])
                or set(s["validation"]) & set(s["test"]))


def test_graph_notebooks_on_real_uc_merced(tmp_path):
    """Real UC Merced through both graph notebooks at small settings (graphs of all 2,100 images, a few epochs)."""
    from rsr_nb.core import data_root
    if not (data_root() / "ucmerced" / "LandUse_Multilabeled.txt").is_file():
        pytest.skip("RSR_DATA does not hold ucmerced/ with its multi-label file (CI uses ../shared/data)")
    cache = str(tmp_path / "cache")
    small = dict(data="real", epochs=3, backbone_input=64, cache_dir=cache, n_jobs=2, show_figures=False)
    run("run_ucm_multilabel.ipynb", tmp_path, **small)
    ml = pd_rows(tmp_path / "results" / "ucm_multilabel.json")
    f1 = ml[(ml.metric == "F1")].set_index("method")["value"]
    assert ml.attrs["source"] == "real" and ml.attrs["size"] == 2100
    assert f1["GCN"] > f1["Chance (label frequencies)"] + 10, f1
    run("run_sgcn_cbir.ipynb", tmp_path, siamese_epochs=3, pairs_per_epoch=1024, **small)
    sg = pd_rows(tmp_path / "results" / "sgcn_ucmerced.json")
    m = sg[(sg.metric == "mAP@all") & (sg.gallery == "all images")].set_index("method")["value"]
    assert m["SGCN"] > m["Chance (random embedding)"] + 10, m
    assert sg[(sg.method == "SGCN") & sg.paper.notna()].shape[0] == 2  # mAP and P@10 beside the paper's


def pd_rows(path):
    import pandas as pd
    obj = json.loads(Path(path).read_text())
    df = pd.DataFrame(obj["rows"])
    df.attrs.update(source=obj["dataset"]["source"], size=obj["dataset"].get("size"))
    return df


def test_cmirnet_diagnosis_on_the_twins(tmp_path):
    run("run_cmirnet_diagnosis.ipynb", tmp_path, **TINY_DIAGNOSIS)
    res = json.loads((tmp_path / "results" / "cmirnet_diagnosis_ucm_speech.json").read_text())
    val = [r for r in res["rows"] if r["split"] == "validation"]
    assert {"stage 1: classifier probabilities (label space)", "CMIR-NET (as documented)",
            "stage 2: classifier on V (probabilities)", "terms averaged over dimensions"} <= {r["method"] for r in val}
    assert res["chosen"]["name"] in {r["method"] for r in res["rows"] if r["split"] == "test"}
    run("run_cmirnet_diagnosis.ipynb", tmp_path, dataset="dsrsid", n_per_class=12, pan_size=32, epochs_stage1=1,
        epochs=3, d_v=8, show_figures=False)
    res = json.loads((tmp_path / "results" / "cmirnet_diagnosis_dsrsid.json").read_text())
    assert {r["task"] for r in res["rows"]} == {"Pan->Mul", "Mul->Pan"}
