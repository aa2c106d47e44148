"""The parts of the main job's time that benchmarks/README.md explains beyond the library's own steps
(`bench_run_dsrsid.py` times those): how fast the PAN CNN's convolutions run on this machine, with the backends and
layouts PyTorch offers; what papermill, the Jupyter kernel (its exit with and without `core.skip_final_collection`)
and torch's own lazy imports cost around the notebook; and what glibc's allocator costs the PAN CNN's training with
its default settings and with `core.keep_freed_memory` (in fresh processes, in turn). The library never calls those two
process-wide settings itself; this script opts in to measure them. Prints figures; asserts nothing.

    python benchmarks/bench_main_job_overheads.py [--threads 2] [--reps 10] [--pairs 3]
        [--only convs papermill kernel dynamo memory]
"""

import argparse
import os
import re
import subprocess
import sys
import time
import warnings

import torch
from torch import nn

# (in channels, out channels, input side, stride) of the library's PAN CNN on 64 x 64 tiles, strided stem
PAN_CONVS = [(1, 32, 64, 2), (32, 64, 32, 1), (64, 128, 16, 1), (128, 128, 8, 1), (128, 128, 4, 1)]
LIBS = "import torch, sklearn, pandas, matplotlib.pyplot"


def conv_speed(cin, cout, side, stride, channels_last, reps, batch=64):
    "GFLOP/s of one 3x3 convolution, forward and backward, on a batch of `batch` tiles (the stage-1 batch size)."
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    x = torch.randn(batch, cin, side, side)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(cin > 1)  # the first layer's input needs no gradient, as in training
    for _ in range(2):
        conv(x).sum().backward()
    t = time.perf_counter()
    for _ in range(reps):
        y = conv(x)
    fwd = (time.perf_counter() - t) / reps
    g = torch.randn_like(y)
    t = time.perf_counter()
    for _ in range(reps):
        conv(x).backward(g)
    bwd = (time.perf_counter() - t) / reps - fwd
    flop = 2 * batch * (side // stride) ** 2 * cout * cin * 9
    return flop / fwd / 1e9, (2 if cin > 1 else 1) * flop / bwd / 1e9


def seconds(code):
    "Wall time of `python -c code`, start to exit."
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


# Stage-1 training of the library's PAN CNN on 640 PAN tiles of the main job's twin (rendered as the notebook does, so
# that the heap holds what it holds there), one warm-up epoch, then `epochs` timed ones; run with
# RSR_KEEP_FREED_MEMORY=0 for glibc's defaults, without it for what `fit` does in the library.
MEMORY_PROBE = """
import os, resource, sys, time, torch
os.environ["RSR_PROGRESS"] = "0"
from rsr_nb.backbones import SmallCNN
from rsr_nb.cmirnet.model import train_stage1
from rsr_nb.cmirnet.pipelines import DSRSIDExperiment, load_dsrsid
torch.set_num_threads(int(sys.argv[1]))
if sys.argv[3] == "keep":  # the library never calls it: this benchmark opts in explicitly
    from rsr_nb.core import keep_freed_memory
    assert keep_freed_memory(), "glibc did not take the setting (another allocator, or malloc settings in the env)"
data = load_dsrsid(DSRSIDExperiment(d_v=64, show_figures=False))
x, y = data.pan[:640], data.labels[:640]
train_stage1(SmallCNN(1, 64, 128, stem_stride=2), 128, x, y, 8, epochs=1)
r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
train_stage1(SmallCNN(1, 64, 128, stem_stride=2), 128, x, y, 8, epochs=int(sys.argv[2]))
r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t
print(wall, r1.ru_stime - r0.ru_stime, r1.ru_minflt - r0.ru_minflt)
"""


def memory_probe(mode, threads, epochs):
    "(wall s, kernel CPU s, page faults) of `epochs` stage-1 PAN epochs in a fresh process."
    env = {k: v for k, v in os.environ.items() if k != "RSR_KEEP_FREED_MEMORY"}
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(threads), str(epochs), mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return [float(v) for v in out.stdout.split()[-3:]]


def import_seconds(code):
    "Cumulative import seconds per module of `python -X importtime -c code`."
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    return {m.group(2).strip(): int(m.group(1)) / 1e6 for m in re.finditer(r"\|\s*(\d+) \|(.*)", err.stderr)}


def kernel_shutdown(code):
    "Seconds a Jupyter kernel takes to shut down after running `code`."
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    kc.execute_interactive(code, timeout=120)
    kc.stop_channels()
    t = time.perf_counter()
    km.shutdown_kernel(now=False)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=3, help="runs of each allocator setting, in turn")
    ap.add_argument("--epochs", type=int, default=4, help="timed stage-1 PAN epochs per memory run")
    parts = ("convs", "papermill", "kernel", "dynamo", "memory")
    ap.add_argument("--only", nargs="+", choices=parts, default=list(parts))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message="TF32 acceleration")
    if "convs" in a.only:
        conv_speeds(a)
    if "papermill" in a.only:
        papermill_start()
    if "kernel" in a.only:
        quick = "; from rsr_nb.core import skip_final_collection; _ = skip_final_collection()"
        main_job = LIBS + "; import torch._dynamo"  # the main job's kernel has imported these by its end
        for what, code in (
            ("a bare kernel", "pass"),
            (LIBS, LIBS),
            (f"{LIBS}, then core.skip_final_collection()", LIBS + quick),
            (f"{LIBS}; import torch._dynamo (as at the main job's end)", main_job),
            ("the same, then core.skip_final_collection()", main_job + quick),
        ):
            print(f"kernel shutdown after {what}: {kernel_shutdown(code):.2f} s")
    if "dynamo" in a.only:
        cumulative = import_seconds("import torch; import torch._dynamo")
        print(
            f"import torch._dynamo after torch (torch.optim's first optimizer and use_deterministic_algorithms "
            f"import it): {cumulative.get('torch._dynamo', float('nan')):.2f} s"
        )
    if "memory" in a.only:
        print(
            f"stage-1 PAN CNN, {a.epochs} epochs x 640 tiles, {a.threads} threads, fresh processes in turn: "
            f"s / epoch, kernel CPU s / epoch, page faults / epoch"
        )
        runs = {"glibc's defaults": [], "keep_freed_memory": []}
        for _ in range(a.pairs):
            for name, mode in (("glibc's defaults", "defaults"), ("keep_freed_memory", "keep")):
                runs[name].append([v / a.epochs for v in memory_probe(mode, a.threads, a.epochs)])
        for name, rs in runs.items():
            cells = "; ".join(f"{w:.2f} s, {k:.2f} s, {f:,.0f}" for w, k, f in rs)
            print(f"  {name:18s} {cells}")


def conv_speeds(a):
    print(f"PAN CNN convolutions, batch 64, {a.threads} threads: GFLOP/s forward / backward")
    for mkldnn in (True, False):
        with torch.backends.mkldnn.flags(enabled=mkldnn):
            for cl in (True, False):
                cells = [conv_speed(*spec, channels_last=cl, reps=a.reps) for spec in PAN_CONVS]
                name = f"{'oneDNN' if mkldnn else 'oneDNN off'}, {'channels-last' if cl else 'channels-first'}"
                row = [f"{f:4.0f}/{b:4.0f}" if b > 0 else f"{f:4.0f}/   -" for f, b in cells]  # stem: too fast to time
                print(f"  {name:28s}", "  ".join(row))
    per_tile = sum((3 if ci > 1 else 2) * 2 * (s // st) ** 2 * co * ci * 9 for ci, co, s, st in PAN_CONVS)
    print(f"  stage-1 PAN training, 15 epochs x 640 tiles, fwd + bwd: {per_tile * 640 * 15 / 1e12:.1f} TFLOP")
    layers = [f"{ci}->{co} at {s}x{s}{' stride 2' if st == 2 else ''}" for ci, co, s, st in PAN_CONVS]
    print("  layers:", ", ".join(layers))


def papermill_start():
    cumulative = import_seconds("import papermill")
    print(
        f"import papermill: {cumulative.get('papermill', float('nan')):.2f} s, of which rfc3987_syntax "
        f"{cumulative.get('rfc3987_syntax', 0.0):.2f} s (jsonschema's optional IRI checker)"
    )
    plain, no_exit = seconds(LIBS), seconds(LIBS + "; import os; os._exit(0)")
    print(f"python -c '{LIBS}': {plain:.2f} s; skipping the interpreter's exit (os._exit): {no_exit:.2f} s")


if __name__ == "__main__":
    main()
