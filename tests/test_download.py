"""Downloads against a local HTTP server: tests never touch the network."""
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from rsr_nb.data.download import (ChecksumError, DatasetCorruptError, DownloadError, download_url,
                                  extract_archive)

PAYLOAD = bytes(range(256)) * 4000   # ~1 MB


class Server:
    """Serves `files` (name -> bytes); honours Range unless `ignore_range`; `die_after` cuts a response short once."""

    def __init__(self, files):
        self.files, self.die_after, self.ignore_range, self.requests = files, None, False, []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass

            def do_GET(self):
                srv.requests.append(dict(self.headers))
                data = srv.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404); return
                start = 0
                rng = self.headers.get("Range")
                if rng and not srv.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416); return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if srv.die_after is not None:
                    cut, srv.die_after = srv.die_after, None
                    self.wfile.write(body[:cut]); self.wfile.flush()
                    self.connection.close()          # the server dies half-way
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = Server({"data.bin": PAYLOAD})
    yield s
    s.close()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def test_good_download(server, tmp_path):
    p = download_url(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=sha(PAYLOAD), show_progress=False)
    assert p.read_bytes() == PAYLOAD
    assert not (tmp_path / "data.bin.part").exists()
    # a second call finds the verified file and does not download again
    n = len(server.requests)
    download_url(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=sha(PAYLOAD), show_progress=False)
    assert len(server.requests) == n


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(ChecksumError, match="published checksum"):
        download_url(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=sha(b"other"), show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_server_dies_half_way_then_resume(server, tmp_path):
    server.die_after = 300_000
    with pytest.raises(DownloadError, match="resumes"):
        download_url(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=sha(PAYLOAD), show_progress=False)
    assert not (tmp_path / "data.bin").exists(), "a partial file must never have the final name"
    assert (tmp_path / "data.bin.part").stat().st_size == 300_000
    p = download_url(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=sha(PAYLOAD), show_progress=False)
    assert p.read_bytes() == PAYLOAD
    assert server.requests[-1].get("Range") == "bytes=300000-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"garbage that is not the start of the file")
    server.ignore_range = True
    p = download_url(f"{server.url}/data.bin", tmp_path / "data.bin", checksum=sha(PAYLOAD), show_progress=False)
    assert p.read_bytes() == PAYLOAD


def test_http_error_is_clear(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_url(f"{server.url}/missing.bin", tmp_path / "m.bin", show_progress=False)


def test_hostile_archive_from_server(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ok/file.txt", "fine")
        z.writestr("../../escape.txt", "owned")
    server.files["evil.zip"] = buf.getvalue()
    arc = download_url(f"{server.url}/evil.zip", tmp_path / "dl" / "evil.zip", checksum=sha(buf.getvalue()), show_progress=False)
    with pytest.raises(DatasetCorruptError, match="outside the target"):
        extract_archive(arc, tmp_path / "dl" / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "dl" / "out").exists()


def test_ucmerced_download_true_fetches_checks_and_extracts(server, tmp_path, monkeypatch):
    """The UC Merced loader's download=True path, end to end, on a tiny archive in the official layout."""
    from PIL import Image
    import numpy as np
    import rsr_nb.data.ucmerced as ucm
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ucm.UCM_CLASSES:
            for i in range(2):
                img = io.BytesIO(); Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(img, "PNG")
                z.writestr(f"UCMerced_LandUse/Images/{cls}/{cls}{i:02d}.tif", img.getvalue())
    server.files["UCMerced_LandUse.zip"] = buf.getvalue()
    monkeypatch.setattr(ucm.UCMerced, "url", f"{server.url}/UCMerced_LandUse.zip")
    monkeypatch.setattr(ucm.UCMerced, "checksum", "md5:" + hashlib.md5(buf.getvalue()).hexdigest())
    ds = ucm.UCMerced(root=tmp_path / "ucmerced", download=True, per_class=2, image_size=32)
    assert len(ds) == 42 and ds[41]["image"].shape == (3, 32, 32)
    # a wrong published checksum is refused, and nothing is extracted
    monkeypatch.setattr(ucm.UCMerced, "checksum", "md5:" + "0" * 32)
    with pytest.raises(ChecksumError):
        ucm.UCMerced(root=tmp_path / "other", download=True, per_class=2)
    assert not (tmp_path / "other" / "UCMerced_LandUse").exists()
