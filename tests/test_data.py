"""Image folders: readable errors for bad inputs, sketch/photo normalization, the in-memory banks."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.data import (
    DataError,
    ImageBank,
    list_images,
    normalize_folder,
    normalize_photo,
    normalize_sketch,
    open_image,
    to_pil,
    to_tensor,
)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def noise_image(w: int, h: int, mode: str, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = {"L": 1, "RGB": 3}[mode]
    arr = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if c == 1 else arr)


# ----------------------------------------------------------------------------
# list_images / open_image


def test_missing_folder(tmp_path):
    folder = tmp_path / "sketches_missing"
    with pytest.raises(DataError) as e:
        list_images(folder, "sketches")
    assert str(e.value) == f"{folder}: sketches folder not found"


def test_a_file_is_not_a_folder(tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"")
    with pytest.raises(DataError, match="folder not found"):
        list_images(f)


def test_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(DataError) as e:
        list_images(folder, "photos")
    msg = str(e.value)
    assert msg.startswith(f"{folder}: no photos found")
    assert "the folder is empty" in msg
    assert ".png" in msg and ".jpg" in msg


def test_hidden_files_and_subfolders_are_ignored(tmp_path):
    (tmp_path / ".hidden.png").write_bytes(png_bytes(noise_image(4, 4, "L")))
    (tmp_path / "sub.png").mkdir()
    with pytest.raises(DataError, match="the folder is empty"):
        list_images(tmp_path)


def test_folder_with_only_text_files_lists_them(tmp_path):
    for name in ("notes.txt", "README.txt"):
        (tmp_path / name).write_text("hi")
    with pytest.raises(DataError) as e:
        list_images(tmp_path, "sketches")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path}: no sketches found")
    assert "found only README.txt, notes.txt" in msg
    assert "the folder is empty" not in msg


def test_list_images_sorted_any_case(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.Jpeg", "d.txt", "e.webp"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.Jpeg", "e.webp"]


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_png_names_the_file(tmp_path, keep):
    data = png_bytes(noise_image(64, 64, "RGB"))
    bad = tmp_path / "broken.png"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError) as e:
        open_image(bad)
    assert str(e.value).startswith(f"{bad}: not a readable image (")


def test_text_file_with_image_extension(tmp_path):
    bad = tmp_path / "fake.jpg"
    bad.write_text("not an image")
    with pytest.raises(DataError, match=r"fake\.jpg: not a readable image \(UnidentifiedImageError"):
        open_image(bad)


def test_open_image_reads_pixels(tmp_path):
    img = noise_image(5, 7, "RGB")
    p = tmp_path / "ok.png"
    p.write_bytes(png_bytes(img))
    got = open_image(p)
    assert got.size == (5, 7) and got.mode == "RGB"
    assert np.array_equal(np.asarray(got), np.asarray(img))


# ----------------------------------------------------------------------------
# Normalization


def test_rgba_sketch_transparent_background_becomes_white():
    arr = np.zeros((20, 20, 4), dtype=np.uint8)  # transparent black everywhere
    arr[5:15, 9:11] = (0, 0, 0, 255)  # an opaque black vertical stroke
    out = normalize_sketch(Image.fromarray(arr, "RGBA"), 20)
    assert out.mode == "L" and out.size == (20, 20)
    o = np.asarray(out)
    stroke = np.zeros((20, 20), bool)
    stroke[5:15, 9:11] = True
    assert (o[~stroke] == 255).all()
    assert (o[stroke] == 0).all()


def test_la_sketch_half_transparent_stroke_is_composited():
    arr = np.zeros((16, 16, 2), dtype=np.uint8)
    arr[8, :] = (0, 128)  # black at alpha 128/255 over white
    out = np.asarray(normalize_sketch(Image.fromarray(arr, "LA"), 16))
    assert (np.delete(out, 8, axis=0) == 255).all()
    # 255 * (1 - 128/255) = 127, PIL rounding may give 127 or 128
    assert np.all(np.abs(out[8].astype(int) - 127) <= 1)


def test_white_on_black_sketch_is_inverted():
    arr = np.zeros((24, 24), dtype=np.uint8)
    arr[12, 3:21] = 255  # white stroke on black
    out = np.asarray(normalize_sketch(Image.fromarray(arr, "L"), 24))
    expect = np.full((24, 24), 255, np.uint8)
    expect[12, 3:21] = 0
    assert np.array_equal(out, expect)


def test_black_on_white_sketch_is_unchanged():
    arr = np.full((24, 24), 255, dtype=np.uint8)
    arr[3:21, 12] = 0
    out = np.asarray(normalize_sketch(Image.fromarray(arr, "L"), 24))
    assert np.array_equal(out, arr)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_odd_non_square_sketch_becomes_square_l(size):
    img = noise_image(37, 53, "RGB")
    out = normalize_sketch(img, size)
    assert out.mode == "L" and out.size == (size, size)
    out = normalize_sketch(noise_image(53, 37, "L"), size)
    assert out.mode == "L" and out.size == (size, size)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_odd_non_square_photo_becomes_square_rgb(size):
    for w, h in ((37, 53), (53, 37), (1, 9)):
        out = normalize_photo(noise_image(w, h, "L"), size)
        assert out.mode == "RGB" and out.size == (size, size)


def test_photo_is_center_cropped():
    # 10 x 30 (W x H): left-right striped in thirds vertically; the centre crop is the middle third
    arr = np.zeros((30, 10, 3), dtype=np.uint8)
    arr[:10] = (255, 0, 0)
    arr[10:20] = (0, 255, 0)
    arr[20:] = (0, 0, 255)
    out = np.asarray(normalize_photo(Image.fromarray(arr), 10))
    assert out.shape == (10, 10, 3)
    assert np.array_equal(out, arr[10:20])


def test_rgba_photo_over_white():
    arr = np.zeros((8, 8, 4), dtype=np.uint8)
    arr[:4] = (10, 20, 30, 255)
    out = np.asarray(normalize_photo(Image.fromarray(arr, "RGBA"), 8))
    assert (out[:4] == (10, 20, 30)).all()
    assert (out[4:] == 255).all()


def test_normalize_folder_writes_numbered_pngs(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for i, (w, h) in enumerate(((37, 53), (20, 20), (64, 40))):
        noise_image(w, h, "RGB", seed=i).save(src / f"img{i}.jpg")
    (src / "notes.txt").write_text("skip me")
    assert normalize_folder(src, dst, 16, "sketches") == 3
    names = sorted(p.name for p in dst.iterdir())
    assert names == ["000000.png", "000001.png", "000002.png"]
    for n in names:
        im = Image.open(dst / n)
        assert im.size == (16, 16) and im.mode == "L"
    assert normalize_folder(src, tmp_path / "dst2", 8, "photos", limit=2) == 2
    assert sorted(p.name for p in (tmp_path / "dst2").iterdir()) == ["000000.png", "000001.png"]


# ----------------------------------------------------------------------------
# Tensors


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_to_tensor_to_pil_round_trip_is_exact(mode):
    # every uint8 value, in both modes
    vals = np.arange(256, dtype=np.uint8).reshape(16, 16)
    arr = vals if mode == "L" else np.stack([vals, vals[::-1], vals.T], -1)
    img = Image.fromarray(arr, mode)
    t = to_tensor(img)
    assert t.dtype == torch.float32
    assert t.shape == ((1, 16, 16) if mode == "L" else (3, 16, 16))
    assert t.min().item() == -1.0 and t.max().item() == 1.0
    assert t[0, 0, 0].item() == -1.0 and t[0, 0, 1].item() == pytest.approx(1 / 127.5 - 1)
    back = to_pil(t)
    assert back.mode == mode
    assert np.array_equal(np.asarray(back), arr)


def test_to_pil_clamps():
    t = torch.tensor([[[-3.0, -1.0, 0.0, 1.0, 5.0]]])
    assert np.asarray(to_pil(t)).tolist() == [[0, 0, 128, 255, 255]]


# ----------------------------------------------------------------------------
# ImageBank


def make_folder(path, n, size, mode, seed=0):
    path.mkdir()
    imgs = []
    for i in range(n):
        img = noise_image(size, size, mode, seed + i)
        img.save(path / f"{i:06d}.png")
        imgs.append(np.asarray(img))
    return imgs


def test_image_bank_loads_and_scales(tmp_path):
    imgs = make_folder(tmp_path / "s", 3, 8, "L")
    bank = ImageBank(tmp_path / "s", "sketches", 8)
    assert len(bank) == 3
    assert bank.data.dtype == torch.uint8 and bank.data.shape == (3, 1, 8, 8)
    all_ = bank.all()
    assert all_.shape == (3, 1, 8, 8)
    expect = torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32)) / 127.5 - 1
    assert torch.equal(all_, expect)


def test_image_bank_rgb_layout(tmp_path):
    imgs = make_folder(tmp_path / "p", 2, 8, "RGB")
    bank = ImageBank(tmp_path / "p", "photos", 8)
    assert bank.data.shape == (2, 3, 8, 8)
    assert np.array_equal(bank.data[1].numpy(), imgs[1].transpose(2, 0, 1))


def test_image_bank_refuses_wrong_size(tmp_path):
    make_folder(tmp_path / "s", 1, 16, "L")
    with pytest.raises(DataError) as e:
        ImageBank(tmp_path / "s", "sketches", 8)
    msg = str(e.value)
    assert str(tmp_path / "s" / "000000.png") in msg
    assert "expected a 8x8 L image" in msg and "got 16x16 L" in msg
    assert "dvc repro prepare" in msg


def test_image_bank_refuses_wrong_mode(tmp_path):
    make_folder(tmp_path / "s", 1, 8, "RGB")
    with pytest.raises(DataError, match=r"expected a 8x8 L image .* got 8x8 RGB; re-run `dvc repro prepare`"):
        ImageBank(tmp_path / "s", "sketches", 8)


def test_image_bank_sample_deterministic_and_in_range(tmp_path):
    make_folder(tmp_path / "p", 5, 8, "RGB")
    bank = ImageBank(tmp_path / "p", "photos", 8)
    torch.manual_seed(123)
    a = bank.sample(7)
    b2 = bank.sample(7)
    torch.manual_seed(123)
    b = bank.sample(7)
    assert a.shape == (7, 3, 8, 8) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, b2)  # the RNG advances between calls
    assert a.min() >= -1 and a.max() <= 1
    # each sample is one of the bank's images, scaled: a batch larger than the bank works (i.i.d. draws)
    all_ = bank.all()
    for x in a:
        assert any(torch.equal(x, y) for y in all_)
    # the indices are torch.randint(len, (batch,)) from the global RNG
    torch.manual_seed(123)
    idx = torch.randint(5, (7,))
    assert torch.equal(a, all_[idx])


def test_image_bank_empty_folder(tmp_path):
    (tmp_path / "s").mkdir()
    with pytest.raises(DataError, match="no sketches found"):
        ImageBank(tmp_path / "s", "sketches", 8)
