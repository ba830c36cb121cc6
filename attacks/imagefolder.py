"""Decoding an image-folder dataset (a zip with one folder per class) into arrays. Sandbox only.

`read_image_folder` re-checks the zip like every loader (container checks, then the layout and
magic-byte checks of `attacks.scanners.image_folder`), then decodes each image with Pillow,
restricted to the JPEG, PNG and WebP decoders, and applies the timm / torchvision evaluation
transform (`ImageTransform`): resize so the shorter side is floor(size / crop_pct), keeping the
aspect ratio, then centre-crop to height × width.

Limits, all checked before the bytes they guard are decoded:

- at most `max_images` images (the layout is read from the member names first);
- the decoded set, N × C × H × W bytes, at most `max_decoded_bytes`, checked from the image count
  before anything is decoded (each image yields exactly C × H × W bytes), so an oversized set is
  refused at once with a UserError instead of after minutes of decoding;
- each image at most `max_pixels` (width × height, read from its header by `Image.open`, which
  decodes nothing); Pillow's own decompression-bomb limit is set to the same number while decoding;
- each member at most MAX_FILE_BYTES, read with `attacks.scanners.zips.read_member`.

Policy for bad images. The whole set is refused (UserError) when the archive itself is unsound,
when a member is not an image by name or by magic bytes (that is not a damaged photo but the wrong
file, or an attack), when the layout is wrong, or when the limits on the set are exceeded. An image
whose bytes start right but cannot be decoded (truncated, corrupt, over the pixel limit, over the
file limit) is skipped and listed in `skipped` as {"file", "reason"}; the rest of the set stays
usable. The set is refused when no image of some class folder remains, or when nothing remains.

Colours: palette, alpha, CMYK, 1-bit and 16-bit images become RGB (or L when channels == 1) as
torchvision's loader does (`convert("RGB")`: alpha is dropped, not composited; 16-bit values are
scaled to 8 bits, not clipped). EXIF orientation is applied (`ImageOps.exif_transpose`).

Labels: with `class_names` (the model card's, in output order), each folder must name one of them
(an exact match first, then a case-insensitive one) and its label is that index; without them,
the folders sorted alphabetically get labels 0..K-1 (torchvision's ImageFolder convention).
"""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attacks.context import UserError
from attacks.scanners.findings import IMAGE_FOLDER, MESSAGES
from attacks.scanners.image_folder import MAX_IMAGES, check_image_folder, read_layout
from attacks.scanners.sniff import sniff_file
from attacks.scanners.zips import check_structure, open_zip, read_member

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_DECODED_BYTES = 4 * 1024**3
MAX_FILE_BYTES = 128 * 1024 * 1024
MAX_UNPACKED_BYTES = 16 * 1024**3  # the scan's upload limit was applied at upload; this bounds the re-check
DEFAULT_CROP_PCT = 0.875
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
MAX_SIDE = 4096
PILLOW_FORMATS = ("JPEG", "PNG", "WEBP")  # Image.open never tries another decoder (EPS, TIFF, ...)
MAX_LISTED = 30
PROGRESS_EVERY = 64
_SIXTEEN_BIT = ("I", "I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True)
class ImageTransform:
    """The evaluation transform: resize (shorter side to floor(size / crop_pct)), centre-crop, channels."""

    channels: int = 3
    height: int = 224
    width: int = 224
    crop_pct: float = DEFAULT_CROP_PCT
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise UserError(f"Images can be read with 1 (grey) or 3 (RGB) channels, not {self.channels}.")
        for name, side in (("height", self.height), ("width", self.width)):
            if not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
                raise UserError(f"The image {name} must be a whole number from 1 to {MAX_SIDE}, not {side!r}.")
        if not 0.0 < float(self.crop_pct) <= 1.0:
            raise UserError(f"crop_pct must be above 0 and at most 1 (e.g. 0.875), not {self.crop_pct!r}.")
        if self.interpolation not in INTERPOLATIONS:
            raise UserError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {self.interpolation!r}.")

    @classmethod
    def for_shape(
        cls, shape: Sequence[int | None], *, crop_pct: float = DEFAULT_CROP_PCT, interpolation: str = "bilinear"
    ) -> ImageTransform:
        """The transform that produces samples of `shape` (C, H, W), e.g. a model's input shape."""
        dims = tuple(shape)
        if len(dims) != 3 or any(not isinstance(dim, int) for dim in dims):
            raise UserError(
                f"Images need a fixed input size (channels, height, width) to be decoded to, not {list(dims)}; "
                "give the input shape, e.g. [3, 224, 224]."
            )
        channels, height, width = dims
        return cls(channels, height, width, float(crop_pct), interpolation)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def resize_size(self) -> tuple[int, int]:
        """(height, width) the image must cover before the centre crop (timm floors, as here)."""
        return (math.floor(self.height / self.crop_pct), math.floor(self.width / self.crop_pct))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def apply(self, image: Any) -> np.ndarray:
        """A decoded PIL image (already in RGB or L) as C × H × W uint8."""
        from PIL import Image

        resample = {
            "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC,
            "nearest": Image.Resampling.NEAREST,
        }[self.interpolation]
        width, height = image.size
        want_h, want_w = self.resize_size
        # Keep the aspect ratio and cover (want_h, want_w): for a square target this resizes the
        # shorter side to floor(size / crop_pct), the longer one truncated, as torchvision's Resize(int).
        if want_h / height >= want_w / width:
            new_h, new_w = want_h, max(want_w, int(width * want_h / height))
        else:
            new_h, new_w = max(want_h, int(height * want_w / width)), want_w
        if (new_w, new_h) != (width, height):
            image = image.resize((new_w, new_h), resample)
        top = int(round((new_h - self.height) / 2.0))
        left = int(round((new_w - self.width) / 2.0))
        image = image.crop((left, top, left + self.width, top + self.height))
        array = np.asarray(image, dtype=np.uint8)
        return array[None] if array.ndim == 2 else np.transpose(array, (2, 0, 1))


@dataclass
class ImageFolder:
    """A decoded image folder: x uint8 N×C×H×W, y int64, and what happened on the way."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    class_counts: list[int]  # images per label, aligned with class_names
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}
    folders: dict[str, int] = field(default_factory=dict)  # class folder -> label


@contextmanager
def _pillow_limits(max_pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to `max_pixels`, truncated images refused, for one decode pass."""
    from PIL import Image, ImageFile

    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
    try:
        with warnings.catch_warnings():
            # Images between 1× and 2× the limit only warn in Pillow; the size check below refuses them.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _to_mode(image: Any, channels: int) -> Any:
    from PIL import Image

    if image.mode in _SIXTEEN_BIT:  # Pillow's convert("L") would clip 16-bit values at 255
        grey = np.asarray(image).astype(np.float32)
        image = Image.fromarray((np.clip(grey, 0, 65535) / 257.0 + 0.5).astype(np.uint8), "L")
    elif image.mode == "P":
        image = image.convert("RGBA")  # the palette's transparency, then dropped like any alpha
    return image.convert("RGB" if channels == 3 else "L")


def _decode(data: bytes, transform: ImageTransform, max_pixels: int) -> np.ndarray | str:
    """C × H × W uint8, or the reason the image cannot be used."""
    from PIL import Image, ImageOps

    try:
        image = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
    except Image.DecompressionBombError:
        return f"it declares over twice the {max_pixels}-pixel limit; it was not decoded"
    except Exception as error:  # UnidentifiedImageError, a damaged header: not decodable
        return f"it could not be decoded ({type(error).__name__}: {str(error)[:120]})"
    with image:
        width, height = image.size
        if width * height > max_pixels:
            return f"it is {width}×{height} = {width * height} pixels, over the {max_pixels}-pixel limit"
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            converted = _to_mode(upright, transform.channels)
        except Exception as error:  # truncated or corrupt data, a broken EXIF block
            return f"it could not be decoded ({type(error).__name__}: {str(error)[:120]})"
    return transform.apply(converted)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:MAX_LISTED])
    return shown + (f" ... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def assign_labels(folders: Sequence[str], class_names: Sequence[str] | None) -> tuple[list[str], dict[str, int]]:
    """(class names, folder -> label). Card names: exact match first, then case-insensitive; else sorted folders."""
    if class_names is None:
        names = sorted(folders)
        return names, {folder: label for label, folder in enumerate(names)}
    names = [str(name) for name in class_names]
    if not names:
        raise UserError("The model's class names are empty; give one name per output of the model.")
    exact: dict[str, int] = {}
    folded: dict[str, list[int]] = {}
    for label, name in enumerate(names):
        exact.setdefault(name, label)
        folded.setdefault(name.casefold(), []).append(label)
    labels: dict[str, int] = {}
    unknown: list[str] = []
    for folder in folders:
        if folder in exact:
            labels[folder] = exact[folder]
        elif len(folded.get(folder.casefold(), [])) == 1:
            labels[folder] = folded[folder.casefold()][0]
        else:
            unknown.append(folder)
    if unknown:
        raise UserError(
            f"The class folders {_listed(sorted(unknown))} are not classes of the model. Its classes are "
            f"{_listed(names)}. Rename each folder to the class it holds, or remove it."
        )
    return names, labels


def _open_checked(path: Path, max_images: int) -> zipfile.ZipFile:
    """The archive, after the container, layout and magic-byte checks; UserError on the first problem."""
    archive, problems = open_zip(path)
    if archive is None:
        raise UserError(problems[0].message)
    problems = check_structure(archive, max_bytes=MAX_UNPACKED_BYTES) or check_image_folder(
        archive, max_images=max_images
    )
    if problems:
        archive.close()
        more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UserError(problems[0].message + more)
    return archive


def read_image_folder(
    path: Path,
    transform: ImageTransform,
    *,
    class_names: Sequence[str] | None = None,
    max_images: int = MAX_IMAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImageFolder:
    """Decode the image-folder zip at `path` (see the module docstring for limits and policy).

    `on_progress(done, total)` is called every few images; it may raise (a cancelled job) to stop."""
    path = Path(path)
    fmt = sniff_file(path)
    if fmt != "image_folder":
        raise UserError(f"This file is not an image folder (its bytes look like: {fmt}). {IMAGE_FOLDER}")
    with _open_checked(path, max_images) as archive:
        layout = read_layout(archive.namelist())
        names, labels = assign_labels(sorted(layout.classes), class_names)
        members = sorted(
            (labels[folder], member) for folder, folder_members in layout.classes.items() for member in folder_members
        )
        sample_bytes = math.prod(transform.sample_shape)
        if len(members) * sample_bytes > max_decoded_bytes:
            raise UserError(
                f"Decoded at {'×'.join(map(str, transform.sample_shape))}, the {len(members)} images take "
                f"{len(members) * sample_bytes} bytes, over the {max_decoded_bytes}-byte limit. Upload a smaller "
                "sample of each class, or choose a smaller input size."
            )
        x = np.empty((len(members), *transform.sample_shape), dtype=np.uint8)
        y = np.empty(len(members), dtype=np.int64)
        skipped: list[dict[str, str]] = []
        kept = 0
        with _pillow_limits(max_pixels):
            for done, (label, member) in enumerate(members):
                if on_progress is not None and done % PROGRESS_EVERY == 0:
                    on_progress(done, len(members))
                decoded = _decode_member(archive, member, transform, max_pixels)
                if isinstance(decoded, str):
                    skipped.append({"file": member, "reason": decoded})
                    continue
                x[kept], y[kept] = decoded, label
                kept += 1
    counts = np.bincount(y[:kept], minlength=len(names)).tolist()
    _refuse_emptied(layout.classes, labels, counts, skipped)
    return ImageFolder(x[:kept], y[:kept], names, counts, skipped, {f: labels[f] for f in sorted(layout.classes)})


def _decode_member(
    archive: zipfile.ZipFile, member: str, transform: ImageTransform, max_pixels: int
) -> np.ndarray | str:
    info = archive.getinfo(member)
    if info.file_size > MAX_FILE_BYTES:
        return f"the file is {info.file_size} bytes, over the {MAX_FILE_BYTES}-byte limit for one image"
    try:
        data = read_member(archive, info)
    except zipfile.BadZipFile:  # a CRC mismatch: the archive was altered after it was written
        raise UserError(MESSAGES["zip_bad_crc"].format(member=member)) from None
    return _decode(data, transform, max_pixels)


def _refuse_emptied(
    classes: dict[str, list[str]], labels: dict[str, int], counts: list[int], skipped: list[dict[str, str]]
) -> None:
    """UserError when nothing, or nothing of some class folder, could be decoded."""
    if not skipped:
        return
    reasons = "; ".join(f"{entry['file']}: {entry['reason']}" for entry in skipped[:3])
    if sum(counts) == 0:
        raise UserError(f"None of the {len(skipped)} images could be used ({reasons}). Save them again as JPEG/PNG.")
    emptied = sorted(folder for folder in classes if counts[labels[folder]] == 0)
    if emptied:
        raise UserError(
            f"No image of the class folder(s) {_listed(emptied)} could be used ({reasons}). Save that class's "
            "images again as JPEG or PNG, or remove the folder."
        )


def thumbnails(x: np.ndarray, y: np.ndarray, per_class: int = 4, size: int = 96) -> list[tuple[int, bytes]]:
    """PNG thumbnails (at most size × size) of the first `per_class` images of each label: [(label, PNG bytes)]."""
    from PIL import Image

    previews: list[tuple[int, bytes]] = []
    for label in np.unique(y):
        for index in np.flatnonzero(y == label)[:per_class]:
            sample = np.asarray(x[index], dtype=np.uint8)
            image = Image.fromarray(sample[0] if sample.shape[0] == 1 else np.transpose(sample, (1, 2, 0)))
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            previews.append((int(label), buffer.getvalue()))
    return previews
