"""Fault injection through the real pipeline: `dvc repro` and the stage scripts in temporary tiny
copies of the project (tests/project.py). README.md here lists what is tried and what the user sees.

The download faults (test_download.py) run against an HTTP server on 127.0.0.1 started here, serving
archives built here with the published layouts:

  sketch_data.zip        sketch/photosketch/standing_cat/*.png (+ a 4 MiB member, so a transfer
                         takes seconds when throttled)
  eval_data.zip          eval/standing_cat/image/*.png
  pretrained_models.zip  stylegan2-cat/netG.pth, netD.pth (tiny networks in the published format,
                         pipeline.prepare.write_demo_networks) and photosketch.pth (a small
                         PhotoSketch state dict: the archive must hold one; xdog is used here)

URL prefixes choose the server's behaviour: /slow/ throttles to ~1 MiB/s, /trunc/ sends half of
what it promised for sketch_data.zip and hangs up (every time), /evil/ serves a sketch_data.zip with
a path-traversal member, /fast/ serves the good archives at full speed.

The three failing fetches spend most of their time in the download's and Prefect's retry back-off,
asleep; they are started together when test_download.py begins (in the pytest-xdist worker that runs
it) and are checked by its tests.
"""

import io
import json
import socket
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # tiny.py, project.py

from project import Run, make_project, syog_methods  # noqa: E402

MiB = 1 << 20
TASK = "standing_cat"
# failing fetch -> the server site its project downloads from
CASES = {
    "wrong_checksum": "fast",
    "truncated": "trunc",
    "path_traversal": "evil",
    "server_error": "error",
    "no_network": None,
}


# ----------------------------------------------------------------------------
# The server


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        site, _, name = self.path.strip("/").partition("/")
        srv.log.append((site, name, self.headers.get("Range")))
        if site == "error":
            return self._send(500, b"internal error")
        files = srv.sites.get(site, {})
        if name not in files:
            return self._send(404, b"not here")
        body, start = files[name], 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(body)}"})
        headers = {"Accept-Ranges": "bytes"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        payload = body[start:]
        cut = len(payload) // 2 if site == "trunc" and srv.truncate and name == "sketch_data.zip" else None
        self._send(206 if start else 200, payload, headers, cut=cut, slow=site == "slow")

    def _send(self, status, payload, headers=None, cut=None, slow=False):
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            data = payload if cut is None else payload[:cut]
            step = 64 << 10
            for i in range(0, len(data), step):
                self.wfile.write(data[i : i + step])
                if slow:
                    time.sleep(step / MiB)  # ~1 MiB/s
            self.wfile.flush()
            if cut is not None:  # promised len(payload) bytes, sent fewer: hang up
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-transfer
            self.close_connection = True


@pytest.fixture(scope="session")
def archives(tmp_path_factory):
    from tiny import write_tiny_params

    from pipeline.config import load_params
    from pipeline.nets.photosketch import PhotoSketch
    from pipeline.prepare import write_demo_networks

    tmp = tmp_path_factory.mktemp("archives")
    exp = load_params(write_tiny_params(tmp / "params.yaml")).experiment  # the tiny generator's shape
    write_demo_networks(exp, tmp / "nets")
    buf = io.BytesIO()
    torch.save(PhotoSketch(ngf=4, n_blocks=1).state_dict(), buf)
    rng = np.random.default_rng(0)

    def png(mode, size):
        if mode == "L":  # black strokes on white
            a = np.full((size, size), 255, np.uint8)
            a[rng.integers(0, size, 40), rng.integers(0, size, 40)] = 0
        else:
            a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        out = io.BytesIO()
        Image.fromarray(a, mode).save(out, format="PNG")
        return out.getvalue()

    def zipped(members):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name, data in members.items():
                zf.writestr(
                    zipfile.ZipInfo(name, (2021, 1, 1, 0, 0, 0)),
                    data,
                    zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED,
                )
        return out.getvalue()

    sketches = {f"sketch/photosketch/{TASK}/{i:03d}.png": png("L", 48) for i in range(5)}
    good = {
        "sketch_data.zip": zipped({**sketches, "sketch/padding.bin": rng.bytes(4 * MiB)}),
        "eval_data.zip": zipped({f"eval/{TASK}/image/{i:03d}.png": png("RGB", 40) for i in range(12)}),
        "pretrained_models.zip": zipped(
            {
                "stylegan2-cat/netG.pth": (tmp / "nets/netG.pth").read_bytes(),
                "stylegan2-cat/netD.pth": (tmp / "nets/netD.pth").read_bytes(),
                "photosketch.pth": buf.getvalue(),
            }
        ),
    }
    evil = {**good, "sketch_data.zip": zipped({**sketches, "../../../../evil.txt": b"pwned"})}
    photos = {f"{i:03d}.png": png("RGB", 36) for i in range(8)}
    return {"good": good, "evil": evil, "photos": photos}


@pytest.fixture(scope="session")
def server(archives):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.log, srv.truncate = [], True
    srv.sites = {
        "slow": archives["good"],
        "fast": archives["good"],
        "trunc": archives["good"],
        "evil": archives["evil"],
    }
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def official_project(path: Path, server, site: str, archives, base_url: str | None = None) -> Path:
    """A tiny project whose experiment downloads from <server>/<site>/ (assets.base_url)."""
    proj = make_project(
        path,
        {
            "experiments.demo.assets": {
                "source": "official",
                "base_url": base_url or f"{server.url}/{site}",
                "task": TASK,
                "sketch_set": "photosketch",
                "stylegan": "stylegan2-cat",
                "photo_dir": "photos",
            }
        },
        syog_methods(),
    )
    (proj / "photos").mkdir()
    for name, data in archives["photos"].items():
        (proj / "photos" / name).write_bytes(data)
    return proj


# ----------------------------------------------------------------------------
# Runs in the background: the failing fetches (mostly waiting) and the kill tests' reference


@pytest.fixture(scope="session")
def official(server, archives):
    """official(path, site) -> a tiny project fetching from <server>/<site>/."""
    return lambda path, site: official_project(path, server, site, archives)


def closed_port_url() -> str:
    with socket.socket() as s:  # bound, then closed again: nobody listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/files"


@pytest.fixture(scope="session")
def failing(tmp_path_factory, server, archives):
    """`dvc repro fetch` in one project per failing case, all started at once."""
    base = tmp_path_factory.mktemp("failing")
    runs = {}
    for case, site in CASES.items():
        # no network: the mirror URL points at a port where nobody listens
        proj = official_project(base / case, server, site, archives, None if site else closed_port_url())
        if case == "wrong_checksum":  # a digest recorded by an earlier fetch that the file no longer has
            (proj / "assets.lock.json").write_text(
                json.dumps(
                    {
                        "sketch_data": {
                            "filename": "sketch_data.zip",
                            "sha256": "0" * 64,
                            "url": "https://www.cs.cmu.edu/~gansketching/files/sketch_data.zip",
                        }
                    },
                    indent=2,
                )
            )
        runs[case] = Run(proj, ["repro", "fetch"], base / f"{case}.log")
    yield runs
    for run in runs.values():
        run.stop()


@pytest.fixture(scope="session")
def clean_pipeline(tmp_path_factory):
    """The tiny pipeline (one method) reproduced once, uninterrupted: the kill tests' reference."""
    proj = make_project(tmp_path_factory.mktemp("kill") / "proj", methods=syog_methods())
    run = Run(proj, ["repro"], proj.parent / "clean.log")
    yield run
    run.stop()
