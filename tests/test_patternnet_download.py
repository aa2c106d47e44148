"""PatternNet's download=True path against a local HTTP server (tests never touch the network): a tiny archive in the
official layout (PatternNet/images/<class>/*.jpg) is fetched, checked, extracted and read; a wrong checksum, a failed
request or an archive with the wrong class folders is a clear error that leaves no half-written file behind."""
import hashlib
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

import rsr_nb.data.patternnet as pn
from rsr_nb.data import get_dataset
from rsr_nb.data.download import ChecksumError, DatasetCorruptError, DatasetNotFoundError, DownloadError


def tiny_archive(classes=pn.PN_CLASSES, per_class=2, size=8) -> bytes:
    "PatternNet.zip in the official layout: `per_class` tiny JPEGs per class, each class its own colour."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for ci, cls in enumerate(classes):
            for i in range(per_class):
                img = io.BytesIO()
                colour = ((37 * ci) % 256, (91 * ci + 60) % 256, (53 * ci + 120 + 9 * i) % 256)
                Image.fromarray(np.full((size, size, 3), colour, np.uint8)).save(img, "JPEG")
                z.writestr(f"PatternNet/images/{cls}/{cls}{i + 1:03d}.jpg", img.getvalue())
    return buf.getvalue()


class Server:
    "Serves `files` (name -> bytes) on 127.0.0.1 from a thread; records the paths asked for."

    def __init__(self, files):
        self.files, self.requests = files, []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.requests.append(self.path)
                data = srv.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def archive():
    return tiny_archive()


@pytest.fixture
def server(archive, monkeypatch):
    "A server holding the tiny archive, with PatternNet's URL and checksum pointed at it."
    s = Server({"PatternNet.zip": archive})
    monkeypatch.setattr(pn.PatternNet, "url", f"{s.url}/PatternNet.zip")
    monkeypatch.setattr(pn.PatternNet, "checksum", "sha256:" + hashlib.sha256(archive).hexdigest())
    yield s
    s.close()


def test_download_true_fetches_checks_extracts_and_loads(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RSR_DATA", str(tmp_path))  # the default root is $RSR_DATA/patternnet
    ds = pn.PatternNet(download=True, per_class=2, image_size=16)
    root = tmp_path / "patternnet"
    assert ds.root == root and (root / "PatternNet/images/airplane/airplane001.jpg").is_file()
    assert len(ds) == 76 and ds.labels.bincount().tolist() == [2] * 38
    item = ds[75]
    assert item["image"].shape == (3, 16, 16) and item["label"] == 37
    assert ds.names[:2] == ["airplane001", "airplane002"]
    # the archive is kept under its final name, verified; no partial file is left
    assert (root / "PatternNet.zip").read_bytes() == server.files["PatternNet.zip"]
    assert not (root / "PatternNet.zip.part").exists()
    # a second call finds the images and does not download again
    n = len(server.requests)
    assert len(pn.PatternNet(download=True, per_class=2)) == 76
    assert len(server.requests) == n


def test_get_dataset_downloads_through_the_registry(server, tmp_path):
    ds = get_dataset("patternnet", root=tmp_path / "pn", download=True, per_class=1, image_size=8)
    assert type(ds) is pn.PatternNet and len(ds) == 38 and ds.source == "real"


def test_wrong_checksum_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setattr(pn.PatternNet, "checksum", "sha256:" + "0" * 64)
    root = tmp_path / "patternnet"
    with pytest.raises(ChecksumError, match="published checksum") as e:
        pn.PatternNet(root=root, download=True, per_class=2)
    assert "deleted" in str(e.value)
    assert list(root.iterdir()) == [], "no archive, no .part and nothing extracted"


def test_server_error_is_clear_and_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setattr(pn.PatternNet, "url", f"{server.url}/missing.zip")
    root = tmp_path / "patternnet"
    with pytest.raises(DownloadError, match="HTTP 404"):
        pn.PatternNet(root=root, download=True)
    assert not (root / "PatternNet.zip").exists() and not (root / "PatternNet").exists()


def test_archive_with_wrong_class_folders_is_named(tmp_path, monkeypatch):
    bad = tiny_archive(classes=pn.PN_CLASSES[:-1], per_class=1)
    s = Server({"PatternNet.zip": bad})
    try:
        monkeypatch.setattr(pn.PatternNet, "url", f"{s.url}/PatternNet.zip")
        monkeypatch.setattr(pn.PatternNet, "checksum", "sha256:" + hashlib.sha256(bad).hexdigest())
        with pytest.raises(DatasetNotFoundError, match="holds 37 class folders.*missing: wastewater_treatment_plant"):
            pn.PatternNet(root=tmp_path / "pn", download=True, per_class=1)
    finally:
        s.close()


def test_too_few_tiles_per_class_is_named(server, tmp_path):
    with pytest.raises(DatasetCorruptError, match="class 'airplane' has 2 of its 800 tiles"):
        pn.PatternNet(root=tmp_path / "pn", download=True)


def test_without_files_the_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("RSR_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as e:
        get_dataset("patternnet")
    msg = str(e.value)
    assert str(tmp_path / "patternnet" / "PatternNet" / "images") in msg
    assert "download=True" in msg and pn.PN_URL in msg and "RSR_DATA" in msg


@pytest.mark.parametrize("options,match", [(dict(per_class=0), "per_class"), (dict(image_size=-1), "image_size")])
def test_bad_options_fail_before_any_download(server, tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        pn.PatternNet(root=tmp_path / "pn", download=True, **options)
    assert server.requests == [] and not (tmp_path / "pn").exists()
