"""Asset fetching: resumable checked downloads, trust-on-first-use lock, mirror folders.

Unpacking and the LSUN export are tested in test_archive.py.

Everything talks to a small HTTP server on 127.0.0.1 started by the test; no other address.
"""

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tiny import make_zip

from pipeline.assets import Asset, FetchError, download, fetch_asset, get_asset, sources
from pipeline.assets.sources import digest_in_url

FAST = dict(timeout=5, retries=0, retry_wait=0, progress=False)


class Handler(BaseHTTPRequestHandler):
    """Serves `server.files`; `server.mode`: normal | drop | drop_once | error500 | ignore_range |
    no_length (no Content-Length: the body ends when the connection closes) | bad_range (a 206
    without Content-Range)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        mode = srv.mode
        if mode == "drop_once":
            srv.mode = "normal"
        if mode == "error500":
            return self._reply(500, b"boom")
        if self.path not in srv.files:
            return self._reply(404, b"not here")
        body, start = srv.files[self.path], 0
        rng = self.headers.get("Range")
        if rng and mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                return self._reply(416, b"", {"Content-Range": f"bytes */{len(body)}"})
        status = 206 if start else 200
        extra = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"} if start else {}
        if mode == "bad_range" and start:
            extra = {}
        if mode == "no_length":
            self.send_response(status)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[start:])
            self.close_connection = True
            return
        if mode in ("drop", "drop_once"):  # promise everything, send half, hang up
            self._reply(status, body[start:], extra, cut=len(body[start:]) // 2)
        else:
            self._reply(status, body[start:], extra)

    def _reply(self, status, payload, headers=None, cut=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload if cut is None else payload[:cut])
        self.wfile.flush()
        if cut is not None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.mode, srv.log = {}, "normal", []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def sha(data):
    return hashlib.sha256(data).hexdigest()


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, incompressible enough to be streamed in pieces


# ----------------------------------------------------------------------------
# download()


def test_download_ok_and_existing_file_skips_network(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    dest = tmp_path / "a.bin"
    assert download(server.url + "/a.bin", dest, sha(PAYLOAD), **FAST) == sha(PAYLOAD)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "a.bin.part").exists()
    assert download(server.url + "/a.bin", dest, sha(PAYLOAD)[:8], **FAST) == sha(PAYLOAD)
    assert len(server.log) == 1


def test_a_digest_written_in_upper_case_is_the_same_digest(server, tmp_path):
    """Published digests come in either case (torch hub names are lower, some READMEs upper)."""
    server.files["/u.bin"] = PAYLOAD
    dest = tmp_path / "u.bin"
    assert download(server.url + "/u.bin", dest, sha(PAYLOAD).upper(), **FAST) == sha(PAYLOAD)
    assert dest.read_bytes() == PAYLOAD
    assert download(server.url + "/u.bin", dest, sha(PAYLOAD)[:10].upper(), **FAST) == sha(PAYLOAD)
    assert len(server.log) == 1  # the file on disk matched: no second transfer
    wrong = sha(PAYLOAD + b"x").upper()
    with pytest.raises(FetchError, match="sha256"):
        download(server.url + "/u.bin", tmp_path / "w.bin", wrong, **FAST)


def test_resume_after_truncated_transfer(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    server.mode, dest = "drop", tmp_path / "a.bin"
    with pytest.raises(FetchError, match="ended early"):
        download(server.url + "/a.bin", dest, sha(PAYLOAD), **FAST)
    part = tmp_path / "a.bin.part"
    assert not dest.exists() and 0 < part.stat().st_size < len(PAYLOAD)
    half = part.stat().st_size
    server.mode = "normal"
    assert download(server.url + "/a.bin", dest, sha(PAYLOAD), **FAST) == sha(PAYLOAD)
    assert server.log[-1] == ("/a.bin", f"bytes={half}-")
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_resume_within_one_call_and_server_ignoring_range(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    server.mode = "drop_once"
    download(server.url + "/a.bin", tmp_path / "a.bin", sha(PAYLOAD), **{**FAST, "retries": 1})
    assert server.log[0][1] is None and server.log[1][1].startswith("bytes=")
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    (tmp_path / "b.bin.part").write_bytes(PAYLOAD[:1000])  # server answers 200: start over
    server.mode = "ignore_range"
    server.files["/b.bin"] = PAYLOAD
    download(server.url + "/b.bin", tmp_path / "b.bin", sha(PAYLOAD), **FAST)
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD


def test_complete_or_oversized_part_file(server, tmp_path):
    """A `.part` already holding the whole file gets 416 for its Range: it is kept and finished
    with no second request. One bigger than the resource is stale: dropped, fetched again."""
    server.files["/a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)
    assert download(server.url + "/a.bin", tmp_path / "a.bin", sha(PAYLOAD), **FAST) == sha(PAYLOAD)
    assert server.log == [("/a.bin", f"bytes={len(PAYLOAD)}-")]
    (tmp_path / "b.bin.part").write_bytes(PAYLOAD + b"stale tail")
    server.files["/b.bin"] = PAYLOAD
    assert download(server.url + "/b.bin", tmp_path / "b.bin", sha(PAYLOAD), **FAST) == sha(PAYLOAD)
    assert server.log[1:] == [("/b.bin", f"bytes={len(PAYLOAD) + 10}-"), ("/b.bin", None)]
    assert (tmp_path / "b.bin").read_bytes() == PAYLOAD


def test_wrong_checksum_leaves_no_file(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    with pytest.raises(FetchError, match="Checksum mismatch") as e:
        download(server.url + "/a.bin", tmp_path / "a.bin", "0" * 64, **FAST)
    # the message names the URL, and the mirror advice says which file to fetch and what to call it
    assert f"download {server.url}/a.bin elsewhere" in str(e.value) and "mirror folder as 'a.bin'" in str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["error500", "refused", "404"])
def test_network_failures_point_to_a_mirror(server, tmp_path, case):
    url = server.url + "/missing.zip"
    if case == "error500":
        server.mode = "error500"
    if case == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/a.zip"  # closed again: nobody listens
    with pytest.raises(FetchError) as e:
        download(url, tmp_path / "a.zip", **{**FAST, "retries": 1})
    msg = str(e.value)
    assert url in msg and "mirror folder" in msg and "assets.source=mirror" in msg and "assets.mirror_dir" in msg
    assert {"error500": "HTTP 500", "refused": "network error", "404": "HTTP 404"}[case] in msg
    if case == "refused":
        assert "Connection refused" in msg  # the operating system's reason, not only the error class
    assert len(server.log) == {"error500": 2, "refused": 0, "404": 1}[case]  # 4xx is not retried
    assert not (tmp_path / "a.zip").exists()


# ----------------------------------------------------------------------------
# Registry, fetch_asset(), lock file, mirror


@pytest.fixture
def toy(server, monkeypatch):
    """A registry entry `toy` served by the local server; returns a function to (re)publish it."""

    def publish(data, sha256=None, unpack=True):
        name = "toy.zip" if unpack else "toy.bin"
        server.files["/" + name] = data
        asset = Asset(
            "toy", server.url + "/" + name, name, sha256, "raw", unpack=unpack, expect=("toy/a.txt",) if unpack else ()
        )
        monkeypatch.setitem(sources.REGISTRY, "toy", lambda: asset)
        return asset

    return publish


TOY = make_zip({"toy/a.txt": b"hello"})
FETCH = dict(timeout=5, retries=0, progress=False)


def test_trust_on_first_use_lock(toy, tmp_path):
    toy(TOY)
    lock = tmp_path / "assets.lock.json"
    assert fetch_asset("toy", tmp_path / "out", lock_file=lock, **FETCH) == tmp_path / "out" / "raw"
    assert (tmp_path / "out/raw/toy/a.txt").read_bytes() == b"hello"
    text = lock.read_text()
    assert (
        json.loads(text)["toy"]["sha256"] == sha(TOY)
        and text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    )
    fetch_asset("toy", tmp_path / "again", lock_file=lock, **FETCH)  # same bytes: verifies
    toy(make_zip({"toy/a.txt": b"tampered"}))
    with pytest.raises(FetchError, match="Checksum mismatch"):
        fetch_asset("toy", tmp_path / "third", lock_file=lock, **FETCH)
    assert not (tmp_path / "third" / "raw").exists() and lock.read_text() == text


def test_code_digest_wins_over_lock(toy, tmp_path):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"toy": {"sha256": "f" * 64}}))
    toy(TOY, sha256=sha(TOY))
    fetch_asset("toy", tmp_path / "out", lock_file=lock, **FETCH)
    assert json.loads(lock.read_text())["toy"]["sha256"] == sha(TOY)
    toy(TOY, sha256="0" * 64)  # code pins another digest: the download is refused, nothing unpacked
    with pytest.raises(FetchError, match="Checksum mismatch"):
        fetch_asset("toy", tmp_path / "out2", lock_file=lock, **FETCH)
    assert not (tmp_path / "out2" / "raw").exists()


def test_mirror_source(toy, tmp_path):
    asset = toy(TOY)
    needs = rf"assets.source=mirror needs assets.mirror_dir: a folder holding 'toy.zip' \(downloaded from {asset.url}\)"
    with pytest.raises(FetchError, match=needs):
        fetch_asset("toy", tmp_path / "out", "mirror", None, **FETCH)
    mirror, lock = tmp_path / "mirror", tmp_path / "lock.json"
    with pytest.raises(FetchError) as e:
        fetch_asset("toy", tmp_path / "out", "mirror", mirror, lock, **FETCH)
    assert str(mirror / "toy.zip") in str(e.value) and asset.url in str(e.value)
    mirror.mkdir()
    (mirror / "toy.zip").write_bytes(TOY)
    assert fetch_asset("toy", tmp_path / "out", "mirror", mirror, lock, **FETCH) == tmp_path / "out/raw"
    assert (tmp_path / "out/raw/toy/a.txt").read_bytes() == b"hello"
    assert json.loads(lock.read_text())["toy"]["sha256"] == sha(TOY)
    (mirror / "toy.zip").write_bytes(make_zip({"toy/a.txt": b"tampered"}))
    with pytest.raises(FetchError, match="mirror file"):
        fetch_asset("toy", tmp_path / "out2", "mirror", mirror, lock, **FETCH)
    assert not (tmp_path / "out2" / "raw").exists()


def test_a_mirror_copy_is_readable_by_all_and_executable_by_none(toy, tmp_path):
    """The copy from a mirror gets 0o644 whatever the mirror file's mode (a temporary file is 0o600)."""
    toy(PAYLOAD, sha256=sha(PAYLOAD), unpack=False)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.bin").write_bytes(PAYLOAD)
    (mirror / "toy.bin").chmod(0o600)
    got = fetch_asset("toy", tmp_path / "out", "mirror", mirror, tmp_path / "lock.json", **FETCH)
    assert got.read_bytes() == PAYLOAD and got.stat().st_mode & 0o777 == 0o644


def test_plain_file_asset_and_synthetic_noop(toy, tmp_path):
    toy(PAYLOAD, sha256=sha(PAYLOAD)[:8], unpack=False)
    assert fetch_asset("toy", tmp_path, **FETCH) == tmp_path / "raw" / "toy.bin"
    assert fetch_asset("toy", tmp_path / "none", "synthetic") is None and not (tmp_path / "none").exists()
    with pytest.raises(ValueError, match="one of"):
        fetch_asset("toy", tmp_path, "ftp")


def test_registry_urls_and_digests():
    assert get_asset("sketch_data").url == "https://www.cs.cmu.edu/~gansketching/files/sketch_data.zip"
    assert "stylegan2-cat/netG.pth" in get_asset("pretrained_models").expect
    assert get_asset("lsun_cat").url == "http://dl.yf.io/lsun/objects/cat.zip"
    assert get_asset("lsun_cat").expect == ("cat/data.mdb",)  # the LMDB the export reads
    with pytest.raises(KeyError, match=r"unknown asset 'lsun_dog'; known assets: sketch_data, eval_data, "):
        get_asset("lsun_dog")
    for name, subdir in (("clip_vit_b32", "weights/clip"), ("inception_fid", "weights/inception")):
        a = get_asset(name)
        assert (a.subdir, a.unpack) == (subdir, False), name  # single weight files, kept as they are
    inception = get_asset("inception_fid")
    assert inception.filename.endswith("-6726825d.pth") and inception.sha256 == "6726825d"
    clip = get_asset("clip_vit_b32")
    assert clip.filename == "ViT-B-32.pt" and len(clip.sha256) == 64 and clip.sha256 in clip.url
    assert digest_in_url("https://x/y/data.zip") is None
    with pytest.raises(KeyError, match="known assets"):
        get_asset("nope")


def test_a_download_already_on_disk_that_does_not_match_is_never_used(toy, server, tmp_path):
    """data/downloads holds a file of the asset's name whose sha256 is not the recorded one: it is
    neither unpacked nor recorded. Offline the fetch fails; online the right file replaces it."""
    toy(TOY)
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"toy": {"filename": "toy.zip", "sha256": sha(TOY), "url": "x"}}))
    before = lock.read_text()
    stale = tmp_path / "out" / "downloads" / "toy.zip"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(make_zip({"toy/a.txt": b"tampered"}))
    server.files.clear()  # offline: the server has nothing
    with pytest.raises(FetchError):
        fetch_asset("toy", tmp_path / "out", lock_file=lock, **FETCH)
    assert not (tmp_path / "out" / "raw").exists() and lock.read_text() == before
    toy(TOY)  # online again
    fetch_asset("toy", tmp_path / "out", lock_file=lock, **FETCH)
    assert (tmp_path / "out/raw/toy/a.txt").read_bytes() == b"hello" and stale.read_bytes() == TOY
    assert lock.read_text() == before


def test_a_mirror_copy_into_an_existing_folder_replaces_a_stale_archive(toy, tmp_path):
    """The downloads folder already exists (an earlier fetch) and holds a stale archive: the mirror
    copy replaces it through a temporary file in that folder, and nothing temporary is left."""
    toy(TOY, sha256=sha(TOY))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.zip").write_bytes(TOY)
    downloads = tmp_path / "out" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "toy.zip").write_bytes(b"stale partial copy")
    fetch_asset("toy", tmp_path / "out", "mirror", mirror, tmp_path / "lock.json", **FETCH)
    assert (downloads / "toy.zip").read_bytes() == TOY
    assert sorted(p.name for p in downloads.iterdir()) == ["toy.zip"]
    assert (tmp_path / "out/raw/toy/a.txt").read_bytes() == b"hello"


def test_content_range_total():
    from pipeline.assets.download import _total_from_content_range as total

    assert total("bytes 0-99/1000") == 1000 and total("bytes */4096") == 4096 and total("bytes 5-9/12 ") == 12
    assert total("bytes 0-99/*") is None and total("") is None and total(None) is None


def test_registry_file_names_and_layout():
    """Each archive is saved under its URL's file name and unpacked where prepare reads it (reference
    spec's data layout: data/raw/sketch, data/raw/eval, data/raw/pretrained, data/raw/lsun)."""
    for name in sources.REGISTRY:
        a = get_asset(name)
        assert a.filename == a.url.split("?")[0].rsplit("/", 1)[-1], name
    layout = {
        "sketch_data": "raw",
        "eval_data": "raw",
        "pretrained_models": "raw/pretrained",
        "gansketching_weights": "raw/weights",
        "lsun_cat": "raw/lsun",
    }
    for name, subdir in layout.items():
        assert get_asset(name).subdir == subdir, name
    assert get_asset("lsun_cat").url == "http://dl.yf.io/lsun/objects/cat.zip"
    for name, subdir in (("clip_vit_b32", "weights/clip"), ("inception_fid", "weights/inception")):
        a = get_asset(name)
        assert (a.subdir, a.unpack) == (subdir, False), name  # single weight files, kept as they are


def test_retries_back_off_one_two_four_seconds_by_default(server, tmp_path, monkeypatch):
    """A server error is retried after 1, 2, 4 s (doubling from retry_wait's default), then reported
    with the server's answer."""
    import importlib

    dl = importlib.import_module("pipeline.assets.download")  # the module, not the function of that name
    waits = []
    monkeypatch.setattr(dl.time, "sleep", waits.append)
    server.files["/x.bin"] = PAYLOAD
    server.mode = "error500"
    with pytest.raises(FetchError, match=r"after 4 attempt\(s\): the server answered HTTP 500"):
        download(server.url + "/x.bin", tmp_path / "x.bin", sha(PAYLOAD), timeout=5, progress=False)
    assert waits == [1.0, 2.0, 4.0] and len(server.log) == 4


def test_inception_url_is_none_without_torch_fidelity(monkeypatch):
    import importlib.util

    from pipeline.assets.sources import INCEPTION_URL_FALLBACK, inception_url_from_torch_fidelity

    assert inception_url_from_torch_fidelity().endswith(".pth")  # read from the installed package
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert inception_url_from_torch_fidelity() is None
    assert get_asset("inception_fid").url == INCEPTION_URL_FALLBACK


def test_a_mirror_archive_without_the_expected_files_names_the_mirror_file(toy, tmp_path):
    toy(TOY)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.zip").write_bytes(make_zip({"other/b.txt": b"x"}))
    with pytest.raises(FetchError) as e:
        fetch_asset("toy", tmp_path / "out", "mirror", mirror, tmp_path / "lock.json", **FETCH)
    assert f"(from {mirror / 'toy.zip'})" in str(e.value) and "toy/a.txt" in str(e.value)
    assert f"{tmp_path / 'out' / 'raw'} holds ['other']" in str(e.value)  # what the archive did hold


def test_a_checksum_mismatch_names_the_file_a_mirror_needs(server, tmp_path):
    server.files["/weights-v2.bin"] = PAYLOAD
    with pytest.raises(FetchError) as e:
        download(server.url + "/weights-v2.bin", tmp_path / "weights-v2.bin", "0" * 64, **FAST)
    assert "mirror folder as 'weights-v2.bin'" in str(e.value)


def test_a_download_shows_a_progress_bar_unless_asked_not_to(server, tmp_path, capsys):
    """The bar (tqdm, stderr) names the file; `progress=False` prints nothing. fetch_asset shows it
    by default, since the published weights take minutes."""
    server.files["/a.bin"] = PAYLOAD
    download(server.url + "/a.bin", tmp_path / "quiet.bin", sha(PAYLOAD), **FAST)
    assert capsys.readouterr().err == ""
    download(server.url + "/a.bin", tmp_path / "loud.bin", sha(PAYLOAD), **{**FAST, "progress": True})
    err = capsys.readouterr().err
    assert "loud.bin" in err and "1.05M" in err  # 1 MiB = 1.05 MB in tqdm's decimal unit_scale


def test_fetch_asset_shows_progress_by_default(toy, tmp_path, capsys):
    toy(PAYLOAD, sha256=sha(PAYLOAD), unpack=False)
    fetch_asset("toy", tmp_path, timeout=5, retries=0)
    assert "toy.bin" in capsys.readouterr().err


def test_a_lock_digest_mismatch_says_which_lock_entry_to_delete(toy, tmp_path):
    """The digest came from the lock (the registry pins none): the error names the lock file and
    the entry. A digest pinned in the code is not the lock's to change: no such advice then."""
    toy(TOY)
    lock = tmp_path / "assets.lock.json"
    fetch_asset("toy", tmp_path / "out", lock_file=lock, **FETCH)
    toy(make_zip({"toy/a.txt": b"tampered"}))
    with pytest.raises(FetchError) as e:
        fetch_asset("toy", tmp_path / "second", lock_file=lock, **FETCH)
    assert f"recorded for 'toy' in {lock}" in str(e.value) and "delete that entry" in str(e.value)
    toy(TOY, sha256="0" * 64)
    with pytest.raises(FetchError) as e:
        fetch_asset("toy", tmp_path / "third", lock_file=lock, **FETCH)
    assert "Checksum mismatch" in str(e.value) and "delete that entry" not in str(e.value)


def test_the_lock_is_written_into_folders_that_do_not_exist_yet(tmp_path, monkeypatch):
    """...through a temp file beside it: a rename from the system temp folder can cross devices."""
    import tempfile

    from pipeline.assets.fetch import read_lock, write_lock

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-temp-folder"))
    path = tmp_path / "data" / "raw" / "assets.lock.json"
    write_lock(path, {"toy": {"sha256": "ab" * 32}})
    assert read_lock(path) == {"toy": {"sha256": "ab" * 32}}
    assert [p.name for p in path.parent.iterdir()] == ["assets.lock.json"]  # no temp file left


def test_a_file_name_from_a_url_drops_its_query():
    assert sources._basename("https://host/models/ViT-B-32.pt?download=1&x=a?b") == "ViT-B-32.pt"
    assert sources._basename("https://host/a b/pt_inception-2015-12-05.pth") == "pt_inception-2015-12-05.pth"


def test_a_plain_file_is_recorded_in_the_lock_and_its_timeout_reaches_the_download(toy, tmp_path, monkeypatch):
    from pipeline.assets import fetch as fetch_module

    toy(PAYLOAD, unpack=False)
    seen = []
    real = fetch_module.download
    monkeypatch.setattr(fetch_module, "download", lambda *a, **k: seen.append(k["timeout"]) or real(*a, **k))
    lock = tmp_path / "lock.json"
    fetch_asset("toy", tmp_path, lock_file=lock, timeout=7.5, retries=0, progress=False)
    assert seen == [7.5]
    entry = json.loads(lock.read_text())["toy"]
    assert entry == {"filename": "toy.bin", "sha256": sha(PAYLOAD), "url": get_asset("toy").url}


def test_a_server_that_sends_no_content_length_is_read_to_the_end(server, tmp_path):
    server.files["/a.bin"] = PAYLOAD
    server.mode = "no_length"
    assert download(server.url + "/a.bin", tmp_path / "a.bin", sha(PAYLOAD), **FAST) == sha(PAYLOAD)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_a_partial_answer_without_content_range_is_named(server, tmp_path):
    """A 206 must say which bytes it holds; one that does not is not appended to the kept part."""
    server.files["/a.bin"] = PAYLOAD
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:1000])
    server.mode = "bad_range"
    with pytest.raises(FetchError, match=r"206 answer without a valid Content-Range \(got None\)"):
        download(server.url + "/a.bin", tmp_path / "a.bin", sha(PAYLOAD), **FAST)
    assert not (tmp_path / "a.bin").exists()


def test_every_registry_entry_carries_its_own_name():
    for name in sources.REGISTRY:
        assert get_asset(name).name == name


def test_a_lock_that_cannot_be_written_leaves_the_old_one_and_no_temp_file(tmp_path):
    from pipeline.assets.fetch import read_lock, write_lock

    path = tmp_path / "assets.lock.json"
    write_lock(path, {"toy": {"sha256": "ab" * 32}})
    with pytest.raises(TypeError):
        write_lock(path, {"toy": {"sha256": object()}})  # not JSON: fails halfway through the dump
    assert read_lock(path) == {"toy": {"sha256": "ab" * 32}}
    assert [p.name for p in tmp_path.iterdir()] == ["assets.lock.json"]
