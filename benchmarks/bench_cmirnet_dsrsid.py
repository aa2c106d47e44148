"""Time CMIR-NET's DSRSID pipeline at the thesis' tile sizes (PAN 256 x 256, MUL 64 x 64) on the DSRSID twin, to
size the paper-scale run (configs/paper/dsrsid.yaml: 80,000 pairs). Prints one JSON line of timings; nothing asserted.

    python benchmarks/bench_cmirnet_dsrsid.py --n-per-class 1000 --device cuda --workers 16
"""
import argparse, json, os, time

import torch

from rsr_nb.backbones import SmallCNN
from rsr_nb.core import get_device, seed_everything
from rsr_nb.data import stratified_split
from rsr_nb.cmirnet.model import CMIRNetConfig, extract_features, train_cmirnet, train_stage1
from rsr_nb.cmirnet.pipelines import DSRSID_TASKS, PROTOCOL, DSRSIDExperiment, load_dsrsid
from rsr_nb.experiment import evaluate_tasks, run_baselines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-per-class", type=int, default=200)
    ap.add_argument("--pan-size", type=int, default=256)
    ap.add_argument("--epochs-stage1", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--baselines", nargs="*", default=[], help="also fit these baselines on the same features (e.g. CCA SCM-Seq)")
    a = ap.parse_args()
    os.environ.setdefault("RSR_PROGRESS", "0")
    dev = get_device(a.device)
    seed_everything(0)
    out = {"n_pairs": 8 * a.n_per_class, "pan_size": a.pan_size, "device": str(dev),
           "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else None, "torch": torch.__version__}
    t = time.perf_counter()
    data = load_dsrsid(DSRSIDExperiment(n_per_class=a.n_per_class, pan_size=a.pan_size, baselines=[]),
                       num_workers=a.workers)
    pan, mul, y = data.pan, data.mul, data.labels
    out["render_s"] = time.perf_counter() - t
    tr, te = stratified_split(y.numpy(), (0.96, 0.04), seed=0)
    z = {}
    for name, x, ch in (("pan", pan, 1), ("mul", mul, 4)):
        t = time.perf_counter()
        m, _ = train_stage1(SmallCNN(ch, x.shape[-1], 128), 128, x[tr], y[tr], 8, epochs=a.epochs_stage1, batch_size=a.batch_size, seed=0, device=dev)
        if dev.type == "cuda": torch.cuda.synchronize()
        out[f"stage1_{name}_s_per_epoch"] = (time.perf_counter() - t) / max(a.epochs_stage1, 1)
        t = time.perf_counter(); z[name] = extract_features(m, x, device=dev); out[f"extract_{name}_s"] = time.perf_counter() - t
    t = time.perf_counter()
    net, _ = train_cmirnet(z["pan"][tr], z["mul"][tr], y[tr], 8, CMIRNetConfig(d_v=64, epochs=a.epochs), seed=0, device=dev)
    out["stage2_s_per_epoch"] = (time.perf_counter() - t) / max(a.epochs, 1)
    z_pan, z_mul = z["pan"], z["mul"]
    emb = {"pan": net.embed_a(z_pan), "mul": net.embed_b(z_mul)}
    t = time.perf_counter()
    res = evaluate_tasks(emb, {"pan": y, "mul": y}, {"pan": te, "mul": te}, DSRSID_TASKS, PROTOCOL)
    out["evaluate_s"] = time.perf_counter() - t
    out["mAP@all"] = {k: round(v["mAP@all"], 4) for k, v in res.items()}
    if a.baselines:
        t = time.perf_counter()
        base = run_baselines(a.baselines, z_pan[tr], z_mul[tr], y[tr], z_pan, z_mul, 64, {"pan": y, "mul": y},
                             {"pan": te, "mul": te}, DSRSID_TASKS, PROTOCOL, modalities=("pan", "mul"))
        out["baselines_s"] = time.perf_counter() - t
        out["baselines_mAP@all"] = {n: {k: round(v["mAP@all"], 4) for k, v in r.items()} for n, r in base.items()}
    # what the paper-scale config (80,000 pairs, 30 + 30 stage-1 epochs, 200 stage-2 epochs) would take, linearly
    scale = 80_000 / out["n_pairs"]
    out["paper_scale_estimate_min"] = round((out["render_s"] * scale + 30 * scale * (out["stage1_pan_s_per_epoch"] + out["stage1_mul_s_per_epoch"])
                                             + 200 * scale * out["stage2_s_per_epoch"]) / 60, 1)
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
