"""safe_extract: escapes, links, special files and bombs are refused and leave nothing behind;
plus the LSUN lmdb export (only where the optional lmdb package is installed)."""

import io
import re
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image
from tiny import make_zip

from pipeline.assets import ArchiveError, FetchError, export_lmdb_images, safe_extract
from pipeline.assets import archive as archive_module


def make_tar(infos):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in infos:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_member(name, data=None, **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data) if data is not None else 0
    for k, v in kw.items():
        setattr(info, k, v)
    return info, data


# ----------------------------------------------------------------------------
# safe_extract()


def refused(archive_bytes, tmp_path, match, name="bad.zip", **caps):
    archive = tmp_path / name
    archive.write_bytes(archive_bytes)
    (tmp_path / "work").mkdir(exist_ok=True)
    target = tmp_path / "work" / "target"
    with pytest.raises(ArchiveError, match=match) as e:
        safe_extract(archive, target, **caps)
    assert str(archive) in str(e.value)
    assert list((tmp_path / "work").iterdir()) == []  # no target, no temp folder
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "work"])  # nothing outside


@pytest.mark.parametrize(
    "member, match",
    [
        ("../evil.txt", r"'\.\.'"),
        ("a/../../evil.txt", r"'\.\.'"),
        ("/abs.txt", "absolute"),
        ("C:/x.txt", "absolute"),
        ("a\\..\\evil.txt", "backslash"),
    ],
)
def test_zip_escapes_refused(tmp_path, member, match):
    refused(make_zip({"ok.txt": b"fine", member: b"evil"}), tmp_path, match)


@pytest.mark.parametrize(
    "member, match",
    [
        (tar_member("link", type=tarfile.SYMTYPE, linkname="../../outside"), "symbolic link"),
        (tar_member("link", type=tarfile.SYMTYPE, linkname="inside.txt"), "symbolic link"),
        (tar_member("hard", type=tarfile.LNKTYPE, linkname="/etc/passwd"), "hard link"),
        (tar_member("dev", type=tarfile.CHRTYPE), "device"),
        (tar_member("../up.txt", b"x"), r"'\.\.'"),
    ],
)
def test_tar_links_devices_and_escapes_refused(tmp_path, member, match):
    refused(make_tar([tar_member("inside.txt", b"ok"), member]), tmp_path, match, name="bad.tar.gz")


def test_zip_bombs_refused(tmp_path):
    bomb = make_zip({"zeros.bin": bytes(4 << 20)})
    refused(bomb, tmp_path, "declare", max_total_bytes=1 << 20)
    refused(make_zip({f"{i}.txt": b"" for i in range(5)}), tmp_path, "cap of 4", max_files=4)
    # A zip whose headers understate the size: stopped while writing (by the cap or zipfile's CRC check).
    liar = bytearray(bomb)
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = liar.index(sig) + offset
        liar[at : at + 4] = struct.pack("<I", 100)
    refused(bytes(liar), tmp_path, "zeros.bin", max_total_bytes=1 << 20)
    # tar headers declare sizes too: refused on the declared total, before a byte is written
    tar_bomb = make_tar([tar_member("zeros.bin", bytes(4 << 20))])
    (tmp_path / "tar").mkdir()
    refused(tar_bomb, tmp_path / "tar", "declare", name="bad.tar.gz", max_total_bytes=1 << 20)


def test_actual_bytes_capped_even_if_declared_sizes_lie(tmp_path, monkeypatch):
    honest = archive_module._ZipReader.members
    monkeypatch.setattr(
        archive_module._ZipReader, "members", lambda self: [(rel, d, 0, h) for rel, d, _, h in honest(self)]
    )
    refused(make_zip({"zeros.bin": bytes(4 << 20)}), tmp_path, "produced more than the cap", max_total_bytes=1 << 20)


def test_extract_zip_and_tar_merge_into_existing_target(tmp_path):
    target = tmp_path / "raw"
    (target / "keep").mkdir(parents=True)
    (target / "sketch").mkdir()
    (target / "sketch" / "old.png").write_bytes(b"old")
    (tmp_path / "a.zip").write_bytes(make_zip({"sketch/cat/1.png": b"1", "sketch/cat/": b""}))
    assert safe_extract(tmp_path / "a.zip", target) == ["sketch/cat/1.png"]
    (tmp_path / "b.tgz").write_bytes(
        make_tar([tar_member("eval", type=tarfile.DIRTYPE), tar_member("./eval/x.png", b"x")])
    )
    assert safe_extract(tmp_path / "b.tgz", target) == ["eval/x.png"]
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "eval",
        "eval/x.png",
        "keep",
        "sketch",
        "sketch/cat",
        "sketch/cat/1.png",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (tmp_path / "junk.zip").write_bytes(make_zip({"a": b"1"})[:-30])  # truncated download
    with pytest.raises(ArchiveError, match="neither a zip nor a tar"):
        safe_extract(tmp_path / "junk.zip", tmp_path / "t2")


# ----------------------------------------------------------------------------
# LSUN export (only where the optional lmdb package is installed)


def test_export_lmdb_images(tmp_path):
    lmdb = pytest.importorskip("lmdb", reason="optional package lmdb not installed (pip install lmdb)")
    env = lmdb.open(str(tmp_path / "cat"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, (w, h) in enumerate([(40, 20), (20, 30), (0, 0), (33, 33)]):
            buf = io.BytesIO()
            if w:
                Image.new("RGB", (w, h), (key * 60, 0, 0)).save(buf, "JPEG" if key % 2 else "WEBP")
            txn.put(f"{key:04d}".encode(), buf.getvalue() or b"not an image")
    env.close()
    assert export_lmdb_images(tmp_path / "cat", tmp_path / "img", limit=3, size=16) == 3
    files = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert files == ["000000.png", "000001.png", "000002.png"]  # the broken entry is skipped
    assert all(Image.open(tmp_path / "img" / f).size == (16, 16) for f in files)
    assert export_lmdb_images(tmp_path / "cat", tmp_path / "img", limit=1, size=8) == 1
    assert [p.name for p in (tmp_path / "img").iterdir()] == ["000000.png"]
    # into folders that do not exist yet (data/raw/<task>/image on a fresh clone), staged beside the target
    assert export_lmdb_images(tmp_path / "cat", tmp_path / "raw" / "task" / "image", limit=2, size=8) == 2
    assert sorted(p.name for p in (tmp_path / "raw" / "task").iterdir()) == ["image"]
    with pytest.raises(FetchError, match="data.mdb"):
        export_lmdb_images(tmp_path, tmp_path / "x", limit=1)


def test_zip_symlink_entries_refused(tmp_path):
    """A zip entry whose Unix mode marks it a symbolic link (how `zip -y` stores links) is refused,
    wherever it points, and nothing is written."""
    import io
    import stat
    import zipfile

    for target in ("../../etc/passwd", "inside.txt"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("inside.txt", b"ok")
            info = zipfile.ZipInfo("link")
            info.create_system = 3  # Unix
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
        refused(buf.getvalue(), tmp_path, r"'link': symbolic link \(links are not allowed in archives\)")


def test_lsun_square_resize_crops_the_centre():
    """A 10 x 4 image whose columns are numbered: the 4 x 4 crop is columns 3-6 (the centre), and
    resizing to the same size leaves it as it is."""
    from pipeline.assets.lsun import square_resize

    cols = np.tile(np.arange(10, dtype=np.uint8) * 20, (4, 1))  # [H=4, W=10]
    img = Image.fromarray(np.stack([cols] * 3, -1), "RGB")
    out = np.asarray(square_resize(img, 4))[..., 0]
    assert out.tolist() == [[60, 80, 100, 120]] * 4
    rows = Image.fromarray(np.stack([cols.T] * 3, -1), "RGB")  # [H=10, W=4]: rows 3-6
    assert np.asarray(square_resize(rows, 4))[..., 0].T.tolist() == [[60, 80, 100, 120]] * 4


def test_an_empty_nested_folder_entry_is_created_with_its_parents(tmp_path):
    (tmp_path / "d.zip").write_bytes(make_zip({"a/b/c/": b"", "x.txt": b"x"}))
    assert safe_extract(tmp_path / "d.zip", tmp_path / "out") == ["x.txt"]
    assert (tmp_path / "out" / "a" / "b" / "c").is_dir()
    # a target whose parent folders do not exist yet (data/raw/<task>/<set> on a fresh clone)
    assert safe_extract(tmp_path / "d.zip", tmp_path / "raw" / "task" / "set") == ["x.txt"]
    assert (tmp_path / "raw" / "task" / "set" / "x.txt").read_bytes() == b"x"


def test_lsun_square_resize_is_lanczos():
    """The export's resize is LANCZOS (as the LSUN tools' PIL export), not PIL's bicubic default."""
    from pipeline.assets.lsun import square_resize

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), "RGB")
    want = np.asarray(img.crop((10, 0, 50, 40)).resize((16, 16), Image.LANCZOS)).astype(int)
    got = np.asarray(square_resize(img, 16)).astype(int)
    bicubic = np.asarray(img.crop((10, 0, 50, 40)).resize((16, 16), Image.BICUBIC)).astype(int)
    assert np.array_equal(got, want) and np.abs(bicubic - want).max() > 10


def test_a_missing_archive_is_named(tmp_path):
    with pytest.raises(ArchiveError, match=rf"^{tmp_path / 'gone.zip'}: archive not found$"):
        safe_extract(tmp_path / "gone.zip", tmp_path / "out")


def test_an_lmdb_without_one_decodable_image_is_named_and_the_last_export_kept(tmp_path):
    lmdb = pytest.importorskip("lmdb", reason="optional package lmdb not installed (pip install lmdb)")
    env = lmdb.open(str(tmp_path / "broken"), map_size=1 << 22)
    with env.begin(write=True) as txn:
        for key in range(3):
            txn.put(f"{key:04d}".encode(), b"not an image")
    env.close()
    out = tmp_path / "img"
    out.mkdir()
    (out / "000000.png").write_bytes(b"an earlier export")
    with pytest.raises(FetchError, match=re.escape(f"{tmp_path / 'broken'}: no decodable image") + r".*\(3 failed\)"):
        export_lmdb_images(tmp_path / "broken", out, limit=2, size=8)
    assert [p.name for p in out.iterdir()] == ["000000.png"] and (
        out / "000000.png"
    ).read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "img"]  # no staging folder left
