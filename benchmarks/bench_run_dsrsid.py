"""Time README's first command, `papermill nbs/run_dsrsid.ipynb out.ipynb -p d_v 64`, step by step: the same library
calls on the same defaults (twin, 1 seed, every baseline), without the notebook's figures. Prints one line per step
and the total; nothing asserted (the target, <= 60 s on two CPU cores, is read off the output).

    OMP_NUM_THREADS=2 python benchmarks/bench_run_dsrsid.py [--threads 2] [--no-baselines] [--pan-width 16]

`--pan-width` tries a narrower PAN CNN (the library's SmallCNN has width 32): a what-if for the time budget, not
the default; compare its printed mAPs with the default run's before adopting it.
"""
import argparse
import json
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--pan-width", type=int, default=0, help="what-if: width of the PAN CNN (0: the library's)")
    a = ap.parse_args()
    os.environ.setdefault("RSR_PROGRESS", "0")
    torch.set_num_threads(a.threads)
    from rsr_nb.cmirnet import pipelines
    from rsr_nb.cmirnet.pipelines import DSRSIDExperiment, load_dsrsid, run_dsrsid

    if a.pan_width:
        from rsr_nb.backbones import SmallCNN

        def cnn(in_channels, input_size, feat_dim=128, width=32):
            return SmallCNN(in_channels, input_size, feat_dim, width=a.pan_width if in_channels == 1 else width)

        pipelines.SmallCNN = cnn
    cfg = DSRSIDExperiment(d_v=64, show_figures=False, **({"baselines": []} if a.no_baselines else {}))
    t0 = time.perf_counter()
    data = load_dsrsid(cfg)
    steps = {"render the twin (800 pairs)": time.perf_counter() - t0}
    run = run_dsrsid(cfg, data)
    steps.update(run.timings)
    total = time.perf_counter() - t0
    for k, v in steps.items():
        print(f"{k:32s} {v:7.1f} s")
    print(f"{'total (without the notebook)':32s} {total:7.1f} s   threads={a.threads} pan_width={a.pan_width or 32}")
    for method in ("CMIR-NET", "Stage 1 only", "Label space (stage 1)"):
        rows = [r for r in run.rows if r["method"] == method and r["metric"] == "mAP@all"]
        print(f"{method:24s} mAP@all", json.dumps({r["task"]: round(r["value"], 2) for r in rows}))


if __name__ == "__main__":
    main()
