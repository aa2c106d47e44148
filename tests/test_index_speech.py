"""A spoken phrase searches an image archive through CMIR-NET's speech side, as README's `rsr-index` lines do it: a
CMIR-NET estimator fitted on ImageNet features of scenes (side a) paired with class names spoken by espeak-ng voices
(side b) is saved, the scenes are indexed with it (`--sides image,speech`), and a recording of a class name in a voice
that training never heard (`.wav`) must bring back scenes of that class first. Real UC Merced tiles when RSR_DATA has
them, drawn tiles otherwise. About 30 s."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
from scipy.io import wavfile

from rsr_nb.core import data_root

CLASSES = ["beach", "forest", "harbor", "runway"]


def _scenes(folder, n=10):
    ucm = data_root() / "ucmerced" / "UCMerced_LandUse" / "Images"
    rng = np.random.default_rng(0)
    for k, c in enumerate(CLASSES):
        (folder / c).mkdir(parents=True)
        files = sorted((ucm / c).iterdir()) if (ucm / c).is_dir() else []
        for i in range(n):
            if files:
                img = Image.open(files[i]).convert("RGB").resize((64, 64))
            else:
                img = Image.fromarray(np.clip(rng.normal(40 + 60 * k, 20, (64, 64, 3)), 0, 255).astype(np.uint8))
            img.save(folder / c / f"{c}{i:02d}.png")


def _cli(*args):
    r = subprocess.run([sys.executable, "-m", "rsr_nb.index.cli", *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "RSR_PROGRESS": "0"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_a_spoken_class_name_finds_its_scenes(tmp_path):
    from rsr_nb.cmirnet.model import CMIRNetEstimator
    from rsr_nb.data.sim.speech import SPEECH_VOICES, synthesize  # espeak-ng in a fresh process
    from rsr_nb.data.sources import image_source
    from rsr_nb.index.encoders import load_encoder, speech_features

    _scenes(tmp_path / "scenes")
    src = image_source(tmp_path / "scenes")
    images = load_encoder("imagenet", input_size=64).encode(src.items)
    voices = SPEECH_VOICES[:8]  # training voices; the query's voice is another
    waves, rate = synthesize([(src.classes[int(c)], voices[i % len(voices)], 160, 50) for i, c in enumerate(src.labels)])
    clips = [(w.astype(np.float32) / 32768, rate) for w in waves]
    est = CMIRNetEstimator(epochs=60, epochs_stage1=30, seed=0).fit(images, speech_features(clips), src.labels)
    est.save(tmp_path / "cmirnet.pt")
    _cli("build", tmp_path / "scenes", "--encoder", tmp_path / "cmirnet.pt", "--sides", "image,speech",
         "--input-size", 64, "--out", tmp_path / "index", "--quiet")
    assert "image, speech" in _cli("info", tmp_path / "index")
    hits = {}
    queries, rate = synthesize([(c, SPEECH_VOICES[9], 160, 50) for c in CLASSES])
    for c, wav in zip(CLASSES, queries):
        wavfile.write(tmp_path / f"{c}.wav", rate, wav)  # 16-bit PCM, as a recorder writes it
        res = json.loads(_cli("query", tmp_path / "index", "--speech", tmp_path / f"{c}.wav", "-k", 5, "--json"))
        hits[c] = [r["label"] for r in res]
    print(hits)
    p5 = np.mean([[l == c for l in got] for c, got in hits.items()])
    assert p5 >= 0.6, hits  # chance: 0.25
    r = subprocess.run([sys.executable, "-m", "rsr_nb.index.cli", "query", str(tmp_path / "index"), "--sketch",
                        str(tmp_path / "scenes" / "beach" / "beach00.png")], capture_output=True, text=True)
    assert r.returncode == 2 and "maps only image, speech" in r.stderr, r.stderr
