"""Sketch sets as the studio stores them: uploads validated before anything is written, folders
content-addressed and written atomically."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.data import DataError
from pipeline.sketchset import MAX_SKETCHES, MAX_UPLOAD_BYTES, STORE_SIZE, as_sketch, decode_upload, load_set, save_set


def drawing(seed: int, size=(300, 200), mode="RGB", bg="white") -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new(mode, size, bg)
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0, x1, y1 = rng.integers(10, 190, 4).tolist()
        d.line((x0, y0, x1, y1), fill="black", width=4)
    return img


def png_bytes(img: Image.Image, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_an_upload_becomes_a_white_ground_square_sketch():
    img = decode_upload(png_bytes(drawing(0)), "cat.png")
    s = as_sketch(img, "cat.png")
    arr = np.asarray(s)
    assert s.mode == "L" and s.size == (STORE_SIZE, STORE_SIZE)
    assert np.median(arr) == 255 and (arr < 128).mean() > 0.01  # white ground, black strokes kept


def test_a_transparent_drawing_is_read_as_strokes_on_white():
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # what a canvas exports: transparent, black strokes
    ImageDraw.Draw(img).line((20, 20, 180, 180), fill=(0, 0, 0, 255), width=6)
    arr = np.asarray(as_sketch(decode_upload(png_bytes(img), "canvas"), "canvas"))
    assert np.median(arr) == 255 and 0.01 < (arr < 128).mean() < 0.2


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "notes.txt: the file is empty"),
        (b"hello, not an image", "notes.txt: not an image PIL can read"),
        (png_bytes(drawing(0))[:60], "notes.txt: not an image PIL can read"),
        (b"\0" * (MAX_UPLOAD_BYTES + 1), "notes.txt: 4.0 MB is over the 4 MB limit"),
    ],
)
def test_bad_uploads_are_refused_with_the_file_named(data, message):
    with pytest.raises(DataError) as e:
        decode_upload(data, "notes.txt")
    assert str(e.value).startswith(message)


def test_a_decompression_bomb_is_refused_before_decoding():
    big = png_bytes(Image.new("1", (5000, 4000), 1))  # small file, 20 M pixels
    assert len(big) < MAX_UPLOAD_BYTES
    with pytest.raises(DataError, match="5000x4000 pixels is over the limit"):
        decode_upload(big, "huge.png")


def test_a_blank_sketch_is_refused():
    with pytest.raises(DataError, match="blank.png: the sketch is blank"):
        as_sketch(Image.new("RGB", (100, 100), "white"), "blank.png")


def test_sets_are_content_addressed_and_never_rewritten(tmp_path):
    a = [as_sketch(drawing(i), f"{i}") for i in range(3)]
    folder = save_set(a, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["000.png", "001.png", "002.png"]
    for stored, orig in zip(load_set(folder), a):
        assert np.array_equal(np.asarray(stored), np.asarray(orig))
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert save_set(list(a), tmp_path) == folder  # the same sketches: the same folder, untouched
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    other = save_set(a[:2], tmp_path)  # another set never touches the first
    assert other != folder and len(list(other.iterdir())) == 2 and len(list(folder.iterdir())) == 3
    assert save_set(a[::-1], tmp_path) not in (folder, other)  # order is part of the set
    assert not list(tmp_path.glob(".incoming-*"))  # no temporary folder left behind


def test_empty_and_oversized_sets_are_refused(tmp_path):
    with pytest.raises(DataError, match="the sketch set is empty"):
        save_set([], tmp_path)
    s = as_sketch(drawing(0), "x")
    with pytest.raises(DataError, match=f"has {MAX_SKETCHES + 1} sketches; the limit is {MAX_SKETCHES}"):
        save_set([s] * (MAX_SKETCHES + 1), tmp_path)
    assert not list(tmp_path.iterdir())
