"""Image-folder datasets (a zip with one folder per class): the scan accepts a sound one and refuses
a wrong one, the sandbox decoder produces the timm/torchvision evaluation transform's pixels with
the right labels, skips images it cannot decode, and never decodes an image over its limits."""

from __future__ import annotations

import io
import resource
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from attacks import intake
from attacks.context import RunContext, UserError
from attacks.imagefolder import ImageTransform, read_image_folder, thumbnails
from attacks.loading import load_dataset
from attacks.scan import scan_file
from attacks.scanners.image_folder import check_image_folder
from tests.attacks import hostile

MAX_BYTES = 50 * 1024 * 1024
RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


def encoded(colour, fmt: str = "JPEG", size=(40, 30), mode: str = "RGB", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def image_zip(path: Path, members: dict[str, bytes], directories: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in directories:
            archive.writestr(zipfile.ZipInfo(name), b"")
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def pets(prefix: str = "") -> dict[str, bytes]:
    """Three classes told apart by colour: birds green, cats red, dogs blue; JPEG, PNG and WebP."""
    return {
        f"{prefix}cats/001.jpg": encoded(RED, quality=95),
        f"{prefix}cats/002.JPEG": encoded(RED, quality=95),
        f"{prefix}cats/003.png": encoded(RED, "PNG"),
        f"{prefix}dogs/x.png": encoded(BLUE, "PNG"),
        f"{prefix}dogs/y.webp": encoded(BLUE, "WEBP", lossless=True),
        f"{prefix}birds/b.webp": encoded(GREEN, "WEBP", quality=95),
    }


def codes(path: Path, **kwargs) -> list[str]:
    return [reason.code for reason in scan_file(path, max_bytes=MAX_BYTES, **kwargs).reasons]


def mean_rgb(sample: np.ndarray) -> np.ndarray:
    return sample.reshape(sample.shape[0], -1).mean(axis=1)


# --- the scan ----------------------------------------------------------------------------------


def test_image_folder_zip_is_accepted_by_the_scan_as_a_dataset(tmp_path: Path):
    report = scan_file(image_zip(tmp_path / "pets.zip", pets()), max_bytes=MAX_BYTES, expect="dataset")
    assert report.accepted, [r.message for r in report.reasons]
    assert report.format == "image_folder" and report.kind == "dataset"
    assert codes(tmp_path / "pets.zip", expect="model") == ["wrong_kind"]


def test_one_top_folder_directory_entries_and_desktop_junk_are_accepted(tmp_path: Path):
    members = pets("mydata/") | {
        "mydata/.DS_Store": b"\0\0\0\1Bud1",
        "__MACOSX/mydata/cats/._001.jpg": b"\0\5\26\7 apple double",
        "mydata/dogs/Thumbs.db": b"windows thumbnails",
    }
    path = image_zip(tmp_path / "pets.zip", members, directories=("mydata/", "mydata/cats/", "__MACOSX/"))
    report = scan_file(path, max_bytes=MAX_BYTES, expect="dataset")
    assert report.accepted and report.format == "image_folder", [r.message for r in report.reasons]
    folder = read_image_folder(path, ImageTransform(3, 8, 8))
    assert folder.class_names == ["birds", "cats", "dogs"] and len(folder.x) == 6


def test_a_text_member_beside_the_images_is_refused_and_named(tmp_path: Path):
    path = image_zip(tmp_path / "pets.zip", pets() | {"cats/notes.txt": b"these are my cats"})
    report = scan_file(path, max_bytes=MAX_BYTES, expect="dataset")
    assert not report.accepted and report.format == "zip"
    found = [(r.code, r.member) for r in report.reasons]
    assert found[0][0] == "unsupported_zip" and ("image_folder_not_image", "cats/notes.txt") in found
    assert "remove it from the zip" in report.reasons[1].message
    weights = image_zip(tmp_path / "weights.zip", {"model.bin": b"\0" * 64, "notes.txt": b"", "plot.png": b""})
    assert codes(weights) == ["unsupported_zip"]  # mostly not images: no image-folder advice to give


@pytest.mark.parametrize(
    ("extra", "code", "member"),
    [
        ({"cats/kittens/004.jpg": encoded(RED)}, "image_folder_too_deep", "cats/kittens/004.jpg"),
        ({"loose.jpg": encoded(RED)}, "image_folder_loose_file", "loose.jpg"),
        ({"cats/fake.png": b"GIF89a not a png"}, "image_folder_bad_magic", "cats/fake.png"),
    ],
)
def test_layout_and_magic_problems_are_refused(tmp_path: Path, extra, code, member):
    report = scan_file(image_zip(tmp_path / "pets.zip", pets() | extra), max_bytes=MAX_BYTES, expect="dataset")
    assert not report.accepted and report.format == "image_folder" and not report.malicious
    assert [(r.code, r.member) for r in report.reasons] == [(code, member)]
    with pytest.raises(UserError, match=member):
        read_image_folder(tmp_path / "pets.zip", ImageTransform(3, 8, 8))


def test_one_class_or_an_empty_class_folder_is_refused(tmp_path: Path):
    one = image_zip(tmp_path / "one.zip", {"cats/1.jpg": encoded(RED), "cats/2.jpg": encoded(RED)})
    assert codes(one) == ["image_folder_too_few_classes"]
    empty = image_zip(tmp_path / "empty.zip", pets(), directories=("fish/",))
    report = scan_file(empty, max_bytes=MAX_BYTES)
    assert [(r.code, r.member) for r in report.reasons] == [("image_folder_empty_class", "fish")]


def test_more_images_than_the_limit_is_refused(tmp_path: Path):
    path = image_zip(tmp_path / "pets.zip", pets())
    with zipfile.ZipFile(path) as archive:
        assert [f.code for f in check_image_folder(archive, max_images=5)] == ["image_folder_too_many_images"]
        assert check_image_folder(archive, max_images=6) == []
    with pytest.raises(UserError, match="6 images, over the limit of 5"):
        read_image_folder(path, ImageTransform(3, 8, 8), max_images=5)


def test_pickle_renamed_jpg_is_refused_as_malicious_and_never_runs(tmp_path: Path, canary: Path):
    path = hostile.image_folder_with_pickle(tmp_path / "pets.zip", canary)
    report = scan_file(path, max_bytes=MAX_BYTES, expect="dataset")
    assert not report.accepted and report.format == "image_folder" and report.malicious
    found = [(r.code, r.member) for r in report.reasons]
    assert found == [("image_folder_bad_magic", "cats/evil.jpg"), ("pickle_dangerous_global", "cats/evil.jpg")]
    assert "posix.system" in report.reasons[1].message
    with pytest.raises(UserError, match="cats/evil.jpg"):
        read_image_folder(path, ImageTransform(3, 8, 8))
    assert not canary.exists()


def test_a_pickle_hidden_in_desktop_junk_is_still_reported(tmp_path: Path, canary: Path):
    import pickle

    payload = pickle.dumps(hostile.SystemPayload(canary), protocol=4)
    report = scan_file(image_zip(tmp_path / "pets.zip", pets() | {"__MACOSX/._x": payload}), max_bytes=MAX_BYTES)
    assert not report.accepted and report.malicious and [r.code for r in report.reasons] == ["pickle_dangerous_global"]
    assert not canary.exists()


# --- decoding ----------------------------------------------------------------------------------


def test_decoded_set_has_the_shape_dtype_labels_and_alphabetical_class_order(tmp_path: Path):
    path = image_zip(tmp_path / "pets.zip", pets())
    folder = read_image_folder(path, ImageTransform(3, 24, 32))
    assert folder.x.shape == (6, 3, 24, 32) and folder.x.dtype == np.uint8 and folder.y.dtype == np.int64
    assert folder.class_names == ["birds", "cats", "dogs"] and folder.class_counts == [1, 3, 2]
    assert folder.y.tolist() == [0, 1, 1, 1, 2, 2] and folder.skipped == []
    assert folder.folders == {"birds": 0, "cats": 1, "dogs": 2}
    for sample, label in zip(folder.x, folder.y, strict=True):
        assert int(np.argmax(mean_rgb(sample))) == {0: 1, 1: 0, 2: 2}[int(label)]  # green, red, blue


def test_transform_matches_torchvisions_resize_and_centre_crop(tmp_path: Path):
    transforms = pytest.importorskip("torchvision.transforms")
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    path = image_zip(tmp_path / "noise.zip", {"a/1.png": _png(photo), "b/1.png": encoded(RED, "PNG")})
    modes = {"bilinear": transforms.InterpolationMode.BILINEAR, "bicubic": transforms.InterpolationMode.BICUBIC}
    for transform in (ImageTransform(3, 16, 16, 0.875, "bilinear"), ImageTransform(3, 20, 20, 0.9, "bicubic")):
        expected = transforms.Compose(
            [
                transforms.Resize(transform.resize_size[0], interpolation=modes[transform.interpolation]),
                transforms.CenterCrop((transform.height, transform.width)),
                transforms.PILToTensor(),
            ]
        )(photo).numpy()
        folder = read_image_folder(path, transform)
        assert np.array_equal(folder.x[0], expected), transform


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def test_grey_palette_alpha_and_16_bit_images_become_rgb_or_grey(tmp_path: Path):
    palette = Image.new("P", (40, 30), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    sixteen = Image.fromarray(np.full((30, 40), 128 * 257, np.uint16))  # 50% grey in 16 bits
    members = {
        "a/grey.png": encoded(90, "PNG", mode="L"),
        "a/palette.png": _png(palette, transparency=0),
        "b/rgba.png": encoded((200, 100, 50, 0), "PNG", mode="RGBA"),
        "b/sixteen.png": _png(sixteen),
        "b/cmyk.jpg": encoded((0, 255, 255, 0), "JPEG", mode="CMYK", quality=95),
    }
    path = image_zip(tmp_path / "modes.zip", members)
    folder = read_image_folder(path, ImageTransform(3, 8, 8, 1.0))
    by_file = dict(zip(sorted(members), folder.x, strict=True))  # labels sort the same way as the names here
    assert by_file["a/grey.png"].min() == by_file["a/grey.png"].max() == 90
    assert mean_rgb(by_file["a/palette.png"]).round().tolist() == [10, 200, 30]
    assert mean_rgb(by_file["b/rgba.png"]).round().tolist() == [200, 100, 50]  # alpha dropped, as torchvision
    assert by_file["b/sixteen.png"].min() == by_file["b/sixteen.png"].max() == 128  # scaled, not clipped to 255
    red, green, blue = mean_rgb(by_file["b/cmyk.jpg"])
    assert red > 200 and green < 40 and blue < 40
    grey = read_image_folder(path, ImageTransform(1, 8, 8, 1.0))
    assert grey.x.shape == (5, 1, 8, 8) and grey.x[0].min() == 90


def test_exif_orientation_is_applied(tmp_path: Path):
    stored = Image.new("RGB", (40, 30), RED)
    stored.paste(Image.new("RGB", (20, 30), BLUE), (20, 0))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the left half becomes the top
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    path = image_zip(tmp_path / "exif.zip", {"a/rotated.jpg": buffer.getvalue(), "b/1.png": encoded(RED, "PNG")})
    sample = read_image_folder(path, ImageTransform(3, 16, 16, 1.0)).x[0]
    top, bottom = sample[:, 1, :], sample[:, -2, :]
    assert (top[0] > 150).all() and (top[2] < 100).all()  # the whole top row is red
    assert (bottom[2] > 150).all() and (bottom[0] < 100).all()  # the whole bottom row is blue


def test_class_names_from_the_card_map_folders_to_their_output_index(tmp_path: Path):
    members = {"cat/1.jpg": encoded(RED), "Dog/1.png": encoded(BLUE, "PNG"), "Dog/2.png": encoded(BLUE, "PNG")}
    path = image_zip(tmp_path / "pets.zip", members)
    folder = read_image_folder(path, ImageTransform(3, 8, 8), class_names=["dog", "cat", "fish"])
    assert folder.class_names == ["dog", "cat", "fish"] and folder.class_counts == [2, 1, 0]
    assert folder.folders == {"Dog": 0, "cat": 1}  # "cat" matches exactly, "Dog" ignoring case
    assert folder.y.tolist() == [0, 0, 1]
    assert int(np.argmax(mean_rgb(folder.x[0]))) == 2 and int(np.argmax(mean_rgb(folder.x[2]))) == 0


def test_a_folder_the_card_does_not_know_is_refused_with_both_lists(tmp_path: Path):
    path = image_zip(tmp_path / "pets.zip", pets())
    with pytest.raises(UserError) as refused:
        read_image_folder(path, ImageTransform(3, 8, 8), class_names=["cats", "dogs", "fish"])
    message = str(refused.value)
    assert "The class folders 'birds' are not classes of the model" in message
    assert "'cats', 'dogs', 'fish'" in message and "Rename each folder" in message


def test_a_truncated_jpeg_is_skipped_by_name_and_the_rest_decoded(tmp_path: Path):
    members = pets()
    members["cats/002.JPEG"] = members["cats/002.JPEG"][: len(members["cats/002.JPEG"]) // 2]
    path = image_zip(tmp_path / "pets.zip", members)
    assert scan_file(path, max_bytes=MAX_BYTES, expect="dataset").accepted  # its first bytes are a JPEG's
    folder = read_image_folder(path, ImageTransform(3, 8, 8))
    assert [entry["file"] for entry in folder.skipped] == ["cats/002.JPEG"]
    assert "could not be decoded" in folder.skipped[0]["reason"] and "truncated" in folder.skipped[0]["reason"].lower()
    assert len(folder.x) == 5 and folder.class_counts == [1, 2, 2]


def test_a_class_left_without_images_refuses_the_set(tmp_path: Path):
    members = pets()
    members["birds/b.webp"] = members["birds/b.webp"][:40]
    with pytest.raises(UserError, match="No image of the class folder\\(s\\) 'birds' could be used .*birds/b.webp"):
        read_image_folder(image_zip(tmp_path / "pets.zip", members), ImageTransform(3, 8, 8))


def _zeros_zlib(total: int) -> bytes:
    """A valid zlib stream of `total` zero bytes, built in milliseconds: independent 1 MiB blocks repeated."""
    chunk = 1 << 20
    compressor = zlib.compressobj(9)
    head = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(total - chunk, chunk)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    return head + block * full + tail[:-4] + struct.pack(">I", ((total % 65521) << 16) | 1)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of width × height: about 110 KB on disk for 30000 × 30000, 900 megapixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    raw = _zeros_zlib(height * (1 + (width + 7) // 8))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_decompression_bombs_are_skipped_without_being_decoded(tmp_path: Path, monkeypatch):
    members = pets() | {"cats/bomb.png": bomb_png(30000, 30000), "dogs/big.png": bomb_png(7000, 7000)}
    path = image_zip(tmp_path / "bombs.zip", members)
    assert path.stat().st_size < 300_000
    assert scan_file(path, max_bytes=MAX_BYTES, expect="dataset").accepted  # sizes are the decoder's business
    decoded_sizes: list[tuple[int, int]] = []
    original_load = ImageFile.ImageFile.load

    def spying_load(self):
        decoded_sizes.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    folder = read_image_folder(path, ImageTransform(3, 8, 8))
    seconds = time.perf_counter() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert seconds < 0.5 and grown < 100 * 1024  # decoding either bomb takes seconds and hundreds of MB
    assert decoded_sizes and set(decoded_sizes) == {(40, 30)}  # only the six real images reached a decoder
    skipped = {entry["file"]: entry["reason"] for entry in folder.skipped}
    assert set(skipped) == {"cats/bomb.png", "dogs/big.png"} and len(folder.x) == 6
    assert "over twice the 40000000-pixel limit" in skipped["cats/bomb.png"]
    assert "7000×7000 = 49000000 pixels, over the 40000000-pixel limit" in skipped["dogs/big.png"]
    assert Image.MAX_IMAGE_PIXELS != 40_000_000  # Pillow's global limit is restored afterwards


def test_a_set_too_large_to_decode_is_refused_before_any_image_is_decoded(tmp_path: Path, monkeypatch):
    calls = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: calls.append(self))
    path = image_zip(tmp_path / "pets.zip", pets())
    with pytest.raises(UserError, match="the 6 images take 903168 bytes, over the 800000-byte limit"):
        read_image_folder(path, ImageTransform(3, 224, 224), max_decoded_bytes=800_000)
    assert calls == []


def test_thumbnails_are_small_pngs_per_class():
    x = np.zeros((5, 3, 64, 64), np.uint8)
    x[:, 0] = 255
    previews = thumbnails(x, np.array([0, 0, 0, 1, 1]), per_class=2, size=32)
    assert [label for label, _ in previews] == [0, 0, 1, 1]
    image = Image.open(io.BytesIO(previews[0][1]))
    assert image.format == "PNG" and image.size == (32, 32) and image.getpixel((5, 5)) == (255, 0, 0)


# --- loading and intake ------------------------------------------------------------------------


def test_load_dataset_decodes_an_image_folder_to_float32_in_0_1(tmp_path: Path):
    path = image_zip(tmp_path / "pets.zip", pets())
    x, y, mask = load_dataset(path, expect_shape=(3, 16, 16), num_classes=3)
    assert x.dtype == np.float32 and x.shape == (6, 3, 16, 16) and mask is None
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.8
    expected = read_image_folder(path, ImageTransform(3, 16, 16)).x
    assert np.array_equal(x, expected.astype(np.float32) / 255)
    x, y, _ = load_dataset(path, image_transform=ImageTransform(1, 8, 8), class_names=["dogs", "cats", "birds"])
    assert x.shape == (6, 1, 8, 8) and y.tolist() == [0, 0, 1, 1, 1, 2]
    with pytest.raises(UserError, match="labels must be 0..1 for a 2-class model"):
        load_dataset(path, expect_shape=(3, 8, 8), num_classes=2)
    with pytest.raises(UserError, match="give the model's input shape"):
        load_dataset(path)


def test_load_dataset_scales_uint8_images_from_an_npz(tmp_path: Path):
    x = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4) * 8
    x[1, 0, 3, 3] = 255
    path = tmp_path / "bytes.npz"
    with path.open("wb") as stream:
        np.savez(stream, x=x, y=np.array([0, 1]))
    assert scan_file(path, max_bytes=MAX_BYTES, expect="dataset").accepted
    loaded, y, _ = load_dataset(path, expect_shape=(1, 4, 4))
    assert loaded.dtype == np.float32 and loaded.max() == 1.0 and loaded[0, 0, 0, 1] == np.float32(8 / 255)
    assert np.allclose(loaded * 255, x)


def test_load_dataset_still_refuses_other_integer_images_and_says_uint8_is_fine(tmp_path: Path):
    path = tmp_path / "ints.npz"
    with path.open("wb") as stream:
        np.savez(stream, x=np.zeros((2, 3), np.int16), y=np.array([0, 1]))
    with pytest.raises(UserError, match="x must be floating point .* or uint8 image bytes"):
        load_dataset(path)


def test_intake_normalises_an_image_folder_to_a_uint8_npz_with_previews(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    progress: list[tuple[float, str]] = []
    ctx = RunContext(output_dir=out, on_progress=lambda p, m: progress.append((p, m)))
    members = pets() | {"dogs/broken.jpg": encoded(BLUE)[:60]}
    params = {"path": str(image_zip(tmp_path / "pets.zip", members)), "kind": "dataset", "input_shape": [3, 32, 32]}
    result = intake.run(ctx, params | {"crop_pct": 0.9, "interpolation": "bicubic"})
    assert result["format"] == "image_folder" and result["kind"] == "dataset" and result["samples"] == 6
    assert result["class_names"] == ["birds", "cats", "dogs"] and result["class_counts"] == [1, 3, 2]
    assert result["input_shape"] == [3, 32, 32] and result["scan"]["accepted"] is True
    assert [entry["file"] for entry in result["skipped"]] == ["dogs/broken.jpg"]
    assert result["transform"] == {
        "channels": 3,
        "height": 32,
        "width": 32,
        "crop_pct": 0.9,
        "interpolation": "bicubic",
    }
    assert [(p["class"], p["class_name"]) for p in result["preview"]] == [
        (0, "birds"),
        (1, "cats"),
        (1, "cats"),
        (1, "cats"),
        (2, "dogs"),
        (2, "dogs"),
    ]
    for preview in result["preview"]:
        assert (out / preview["image"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with np.load(out / result["output"], allow_pickle=False) as saved:
        assert saved["x"].dtype == np.uint8 and saved["x"].shape == (6, 3, 32, 32)
        assert saved["y"].tolist() == [0, 1, 1, 1, 2, 2]
    x, _, _ = load_dataset(out / "dataset.npz", expect_shape=(3, 32, 32))  # what later jobs read
    assert x.dtype == np.float32 and result["x_range"] == pytest.approx([float(x.min()), float(x.max())], abs=1e-6)
    assert any("Decoding images" in message for _, message in progress) and progress[-1] == (100, "Done")


def test_intake_uses_the_card_class_names_and_checks_them_against_num_classes(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    ctx = RunContext(output_dir=out)
    path = str(image_zip(tmp_path / "pets.zip", pets()))
    card = {"path": path, "kind": "dataset", "input_shape": [3, 8, 8], "class_names": ["dogs", "cats", "birds"]}
    result = intake.run(ctx, card)
    assert result["class_names"] == ["dogs", "cats", "birds"] and result["class_counts"] == [2, 3, 1]
    with pytest.raises(UserError, match="has 3 classes, but the model has 2 outputs"):
        intake.run(ctx, {"path": path, "kind": "dataset", "input_shape": [3, 8, 8], "num_classes": 2})
    with pytest.raises(UserError, match="interpolation must be one of bilinear, bicubic, nearest"):
        intake.run(ctx, {"path": path, "kind": "dataset", "interpolation": "lanczos"})
    with pytest.raises(UserError, match="class_names must be a list"):
        intake.run(ctx, {"path": path, "kind": "dataset", "class_names": "dogs,cats"})


def test_intake_stops_decoding_between_images_when_cancelled(tmp_path: Path, monkeypatch):
    from attacks import imagefolder
    from attacks.context import Cancelled

    monkeypatch.setattr(imagefolder, "PROGRESS_EVERY", 2)
    decoded = []
    real_decode = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda *args: decoded.append(1) or real_decode(*args))
    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()
    ctx = RunContext(output_dir=out, cancel_event=cancel, on_progress=lambda p, m: "images:" in m and cancel.set())
    path = str(image_zip(tmp_path / "pets.zip", pets()))
    with pytest.raises(Cancelled):
        intake.run(ctx, {"path": path, "kind": "dataset", "input_shape": [3, 8, 8]})
    assert len(decoded) == 2 and not (out / "dataset.npz").exists()  # stopped at the next check, 2 of 6 in
