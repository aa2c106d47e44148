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
                baselines=["CCA"], finetune_epochs=2, show_figures=False)
TINY_ABLATION = dict(d_v=16, n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3,
                     lambda1_grid=[1e-5], lambda34_grid=[0.01], lambda5_grid=[1.0], alpha_grid=[0.0], show_figures=False)
TINY_SELECTION = dict(d_v=16, n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3)
TINY_DIAGNOSIS = dict(n_per_class=4, image_size=32, backbone_input=32, epochs_stage1=2, epochs=3, d_v=8,
                      show_figures=False)
TINY_GRAPHS = dict(n_per_class=5, image_size=48, region_size=12, epochs=2, backbone_input=32, n_jobs=1,
                   show_figures=False, finetune_epochs=1)
TINY_SGCN = dict(TINY_GRAPHS, siamese_epochs=2, pairs_per_epoch=64, validation_fraction=0.25)
TINY_ZSCMR = dict(n_sketches=2, n_photos=2, image_size=32, backbone_input=32, stage1_hidden=32, stage1_epochs=2,
                  hidden=32, d=8, epochs=2, ablation=False, show_figures=False)
TINY_AERIAL = dict(n_sketches=6, n_photos=6, image_size=32, backbone_input=32, stage1_hidden=32, stage1_epochs=2,
                   hidden=32, d=8, epochs=2, splits=2, finetune_epochs=2, show_figures=False)
TINY_OWN = dict(epochs=2, backbone_input=32, n_jobs=1, show_figures=False)
RUN_NOTEBOOKS = {"run_zscmr.ipynb": TINY_ZSCMR, "run_zscmr_aerial.ipynb": TINY_AERIAL, "run_dsrsid.ipynb": TINY_DSRSID, "run_ucm_speech.ipynb": TINY_UCM,
                 "run_cmirnet_ablation.ipynb": TINY_ABLATION, "run_cmirnet_lambda_selection.ipynb": TINY_SELECTION,
                 "run_cmirnet_diagnosis.ipynb": TINY_DIAGNOSIS, "run_ucm_multilabel.ipynb": TINY_GRAPHS,
                 "run_sgcn_cbir.ipynb": TINY_SGCN, "run_own_data.ipynb": TINY_OWN}


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
    ("run_zscmr.ipynb", dict(split="random"), "unknown zero-shot split"),
    ("run_zscmr.ipynb", dict(dataset="tuberlin", split="eccv18"), "exists for Sketchy only"),
    ("run_zscmr.ipynb", dict(graph="all"), "graph must be one of"),
    ("run_zscmr.ipynb", dict(word_vectors="/nonexistent/vectors.bin"), "is not a file"),
    ("run_zscmr.ipynb", dict(w_cmd=0.0, w_triplet=0.0, w_rcs=0.0, w_class=0.0), "nothing would be trained"),
    ("run_zscmr_aerial.ipynb", dict(word_vectors=["released"]), "come with the real data"),
    ("run_zscmr_aerial.ipynb", dict(splits=11), "there are 10 leave-2-out splits"),
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
    methods = ("CMIR-NET", "CCA", "Label space (stage 1)", "Label space (LogReg)", "Stage 1 only", "Chance (random embedding)",
               "Fine-tuned CNN (images into the label space)")
    assert {(r["method"], r["task"]) for r in res["rows"]} == {(m, t) for m in methods for t in ("Img->Aud", "Aud->Img")}
    paper = [r for r in res["rows"] if r["paper"] is not None]
    assert paper and all(r["metric"] in ("P@10", "meanP@10..50") for r in paper), "a paper number beside a standard mAP"


def test_run_ucm_speech_real_data_is_clearly_above_chance(tmp_path):
    from rsr_nb.core import data_root
    if not (data_root() / "ucmerced" / "speech" / "speech.mat").is_file():
        pytest.skip("RSR_DATA does not hold ucmerced/ with the speech features (CI uses ../shared/data)")
    run("run_ucm_speech.ipynb", tmp_path, data="real", d_vs=[64], backbone_input=64, epochs_stage1=20, epochs=20,
        baselines=[], finetune_epochs=2, finetune_input=64, show_figures=False)
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


def test_speech_finetuned_cnn_sees_no_test_image(monkeypatch):
    """Today's image <-> speech baseline: each seed's fine-tuned CNN trains (and stops early) on that seed's training
    images, all of them, and on no test image; items are identified by their pixels, not by the recorded split."""
    from rsr_nb.cmirnet import pipelines as P
    from rsr_nb.data.sources import dataset_items, image_source
    from rsr_nb.finetune import FineTunedCNN

    cfg = P.UCMSpeechExperiment(**{**TINY_UCM, "seeds": [0, 1], "baselines": []})
    data = P.load_ucm_speech(cfg)
    index = {np.ascontiguousarray(x).tobytes(): i for i, x in enumerate(dataset_items(data.images))}
    assert len(index) == len(data.images), "the twin's tiles must differ for this check to identify them"
    seen, real_fit = [], FineTunedCNN.fit

    def fit(self, images, labels=None, validation=None, **kw):
        assert validation is None
        seen.append(np.array([index[np.ascontiguousarray(x).tobytes()] for x in image_source(images).items]))
        return real_fit(self, images, labels, validation=validation, **kw)

    monkeypatch.setattr(FineTunedCNN, "fit", fit)
    out = P.run_ucm_speech(cfg, data)
    assert len(seen) == 2
    for seed, got in zip(cfg.seeds, seen):
        s = out.splits[seed]
        assert set(got) == set(s["img_train"]) and not set(got) & set(s["img_test"]), seed
    assert any(r["method"] == P.FINETUNED_SPEECH for r in out.rows)


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
    assert {r["method"] for r in sg["rows"]} == {"SGCN", "GCN", "CNN (ImageNet features)", "Chance (random embedding)",
                                                 "Fine-tuned CNN (multi-similarity)"}
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
    small = dict(data="real", epochs=3, backbone_input=64, cache_dir=cache, n_jobs=2, show_figures=False,
                 finetune_epochs=2, finetune_input=64)
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


def test_zscmr_on_the_twin_writes_every_table_row(tmp_path):
    run("run_zscmr.ipynb", tmp_path, **{**TINY_ZSCMR, "ablation": True})
    res = json.loads((tmp_path / "results" / "zscmr_sketchy.json").read_text())
    assert res["dataset"]["source"] == "simulated" and len(res["dataset"]["unseen"]) == 25
    methods = {r["method"] for r in res["rows"]}
    assert {"ZSCMR (with graph)", "ZSCMR (without graph)", "SAE", "Triplet network (no semantics)",
            "ImageNet features (no training)", "Chance (random embedding)",
            "ZSCMR without graph, without L_rcs", "ZSCMR without graph, fixed semantic space"} <= methods
    assert {r["task"] for r in res["rows"]} == {"Sketch->Image", "Image->Sketch", "Sketch->Sketch", "Image->Image"}


def test_zscmr_word_vectors_missing_every_word_of_a_class_stop_without_results(tmp_path):
    vec = tmp_path / "tiny.txt"  # a word2vec text file that knows two words
    vec.write_text("2 3\ncat 0.1 0.2 0.3\ndog 0.3 0.2 0.1\n")
    with pytest.raises(pm.PapermillExecutionError, match="no word of these classes is in the word vectors"):
        run("run_zscmr.ipynb", tmp_path, word_vectors=str(vec), **TINY_ZSCMR)
    assert not (tmp_path / "results").exists()


def test_zscmr_real_without_files_says_where_to_put_them(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="not found"):
        run("run_zscmr.ipynb", tmp_path, data="real", data_root=str(tmp_path / "nothing"), **TINY_ZSCMR)
    assert not (tmp_path / "results").exists()


def test_zero_shot_pipeline_never_trains_on_unseen_classes(monkeypatch):
    """Stage 1 and every stage-2 model see seen-class items only (SAE, ITQ, class graph: test_zscmr_guards.py)."""
    import numpy as np
    import rsr_nb.zscmr.pipelines as P

    data = P.synthetic_zero_shot_data(n_classes=6, per_class=10)
    seen, unseen = data.classes[:4], data.classes[4:]
    unseen_idx = [data.classes.index(c) for c in unseen]
    trained = []
    real_stage1, real_train = P.stage1_features, P.train_zscmr

    def spy_stage1(features, labels, train, *a, **k):
        trained.append(("stage 1", labels[np.asarray(train)].tolist()))
        return real_stage1(features, labels, train, *a, **k)

    def spy_train(model, xa, ya, xb, yb, *a, **k):
        trained.append(("stage 2", ya.tolist() + yb.tolist(), model.n_seen))
        return real_train(model, xa, ya, xb, yb, *a, **k)

    monkeypatch.setattr(P, "stage1_features", spy_stage1)
    monkeypatch.setattr(P, "train_zscmr", spy_train)
    params = P.StageParams(d=8, hidden=16, stage1_hidden=16, stage1_epochs=1, epochs=1, graph_k=2)
    P.zero_shot_embeddings(data, seen, unseen, P.zscmr_variants("seen+unseen", ablation=True, sem_dim=10), params,
                           device="cpu", show_progress=False)
    assert [t[0] for t in trained].count("stage 1") == 2 and len(trained) > 5
    for t in trained:
        if t[0] == "stage 1":
            assert not set(t[1]) & set(unseen_idx), t
        else:  # stage-2 labels are rows of Z: the seen classes come first, 0 .. n_seen-1
            assert max(t[1]) < t[2] == len(seen), t


def test_zscmr_aerial_on_real_sketches(tmp_path):
    """Real Earth on Canvas sketches -> real UC Merced images, 2 of the 10 splits, 1 seed, small settings."""
    from rsr_nb.core import data_root
    if not (data_root() / "earth_on_canvas" / "wv_embeddings.mat").is_file():
        pytest.skip("RSR_DATA does not hold earth_on_canvas/ and ucmerced/ (CI uses ../shared/data)")
    run("run_zscmr_aerial.ipynb", tmp_path, data="real", word_vectors=["released", "glove"], splits=2,
        backbone_input=96, stage1_epochs=10, epochs=15, finetune_epochs=2, finetune_input=64, show_figures=False)
    df = pd_rows(tmp_path / "results" / "zscmr_aerial.json")
    assert df.attrs["source"] == "real" and set(df.word_vectors) == {"released", "glove"}
    m = df[(df.metric == "mAP@all") & (df.task == "Sketch->Image")].groupby("method")["value"].mean()
    assert m["ZSCMR (with graph)"] > m["Chance (random embedding)"] + 5, m
    assert "Fine-tuned CNNs (cross-modal multi-similarity, no semantics)" in m, m
