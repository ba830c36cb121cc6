"""The upload pre-check: what can be refused from a file's name and first bytes, before anything is stored or queued.

It reads the first 4 KiB of an upload and compares magic numbers (the engine's own sniffing,
attacks.scanners.sniff, which imports no torch); nothing is deserialised (pickletools only reads opcodes).
What it lets through still goes to the intake scan in the sandbox, which has the last word. Bytes that
announce a pickle (a raw or legacy torch pickle, an .npy array, or first bytes that import a Python name,
as a protocol 0 pickle's do) always go on to that scan, whatever the name: a payload found there is
recorded as a security finding, not just turned away.
"""

import codecs
import io
import pickletools
from pathlib import PurePosixPath

from django.core.files.uploadedfile import UploadedFile

from attacks.scanners.findings import EXPORT_ANY, SAVE_WEIGHTS
from attacks.scanners.sniff import HEAD_BYTES, sniff_head
from riskapp.artifacts.names import clean_file_name

MODEL, DATASET = "model", "dataset"
KINDS = (MODEL, DATASET)

# What the first bytes may be for each kind: a PyTorch checkpoint, a Hugging Face folder, an .npz and an
# image folder are all zips; the intake scan tells them apart by their members.
ACCEPTED_HEADS = {MODEL: frozenset({"zip", "safetensors", "onnx"}), DATASET: frozenset({"zip"})}
PICKLE_HEADS = frozenset({"pickle", "legacy_torch", "npy"})
PICKLE_IMPORTS = frozenset({"GLOBAL", "INST"})  # a protocol 0 or 1 pickle's imports: "module name"

MODEL_SUFFIXES = frozenset({".safetensors", ".pt", ".pth", ".onnx"})
DATASET_SUFFIXES = frozenset({".npz"})


def _suffixes(description: str, suffixes: str) -> dict[str, str]:
    return dict.fromkeys(suffixes.split(), description)


# Names riskapp never takes in as a model or a dataset, whatever the bytes hold.
REFUSED_SUFFIXES = {
    **_suffixes(
        "a text or document file",
        ".txt .md .rst .log .csv .tsv .json .yaml .yml .xml .html .htm .pdf .rtf .doc .docx .xls .xlsx .odt .ods",
    ),
    **_suffixes("source code", ".py .ipynb .sh .js"),
    **_suffixes("a single image", ".jpg .jpeg .png .gif .bmp .webp .svg .tif .tiff"),
    **_suffixes("a Keras or TensorFlow file", ".h5 .hdf5 .keras .pb .tflite"),
    **_suffixes("an archive riskapp does not open (only zip)", ".tar .gz .tgz .bz2 .xz .7z .rar"),
}

ADVICE = {
    MODEL: "Upload a model as safetensors weights, a PyTorch state_dict saved with torch.save (.pt / .pth), "
    "a single-file ONNX model, or a zip of a Hugging Face model folder.",
    DATASET: "Upload a dataset as an .npz with arrays x and y (numpy.savez), or a zip of an image folder with "
    "one sub-folder per class (JPEG, PNG or WebP images).",
}
KERAS_TO_ONNX = " Export a Keras or TensorFlow model to ONNX (e.g. with tf2onnx) as a single file."


def upload_refusal(upload: UploadedFile, *, kind: str) -> str | None:
    """Why `upload` cannot be a `kind` ("model" or "dataset"), from its name and first bytes; None when the
    intake scan should decide. The file is left at its start."""
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    return refusal_for(kind=kind, name=upload.name or "", head=head)


def refusal_for(*, kind: str, name: str, head: bytes) -> str | None:
    """upload_refusal on a name and the file's first bytes (at least 4 KiB of them, or the whole file)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    family = sniff_head(head)
    if family in PICKLE_HEADS or (family == "unknown" and _pickle_import(head)):
        return None  # the intake scan searches it for a payload
    label = clean_file_name(name)
    reason = _name_reason(kind, PurePosixPath(label).suffix.lower()) or _bytes_reason(kind, family, head)
    if reason is None:
        return None
    advice = ADVICE[kind] + (KERAS_TO_ONNX if kind == MODEL and "Keras" in reason else "")
    return f"“{label}” cannot be taken in as a {kind}: {reason}. {advice}"


def in_dataset_terms(message: str) -> str:
    """An intake refusal of a dataset upload with the scan's advice on saving model weights (it speaks of any
    pickle or unknown file) replaced by the dataset formats."""
    for model_advice in (SAVE_WEIGHTS, EXPORT_ANY):
        message = message.replace(model_advice, ADVICE[DATASET])
    return message


def _name_reason(kind: str, suffix: str) -> str | None:
    if kind == MODEL and suffix in DATASET_SUFFIXES:
        return f"{suffix} files are datasets; upload it as a dataset instead"
    if kind == DATASET and suffix in MODEL_SUFFIXES:
        return f"{suffix} files are models; upload it as a model instead"
    if suffix in REFUSED_SUFFIXES:
        return f"its name ({suffix}) says it is {REFUSED_SUFFIXES[suffix]}, not a {kind}"
    return None


def _bytes_reason(kind: str, family: str, head: bytes) -> str | None:
    if family in ACCEPTED_HEADS[kind]:
        return None
    if family in ("safetensors", "onnx"):
        return "its first bytes are those of a model (safetensors or ONNX); upload it as a model instead"
    if family == "keras_h5":
        return "its first bytes are those of an HDF5 (Keras .h5) file, which riskapp does not load"
    if _is_text(head):
        return f"its first bytes are plain text, not a {kind} file"
    return f"its first bytes match none of the {kind} formats riskapp reads"


def _pickle_import(head: bytes) -> bool:
    """True when the head reads as pickle opcodes up to an import of a Python name (protocols 0 and 1 have no
    magic number: `cposix\\nsystem\\n` is their import of os.system). Plain text fails at its first bytes."""
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(head)):
            if op.name in PICKLE_IMPORTS and _python_name(str(arg)):
                return True
    except Exception:  # genops raises ValueError, KeyError, EOFError, ... at the first malformed opcode or the cut
        return False
    return False


def _python_name(arg: str) -> bool:
    """True for "module name" as an import opcode gives it, e.g. "posix system" or "collections OrderedDict"."""
    words = arg.split(" ")
    return len(words) == 2 and all(part.isidentifier() for word in words for part in word.split("."))


def _is_text(head: bytes) -> bool:
    try:
        # Not final: the head may end inside a multi-byte character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\n\r" for ch in text)
