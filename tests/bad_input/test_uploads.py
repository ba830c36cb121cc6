"""Bad uploads of models and datasets, through the browser's forms and the API.

Three tables:
- REQUEST: refused by the request itself (empty, oversize, duplicate, a bad card, a name or first bytes that
  already say the file is not of the kind uploaded): nothing is stored, no row, no job, no file left on disk or
  in the upload temporary folder;
- INTAKE: taken in, then refused by the intake scan in the sandbox (wrong format, pickles, TorchScript, Keras,
  zip bombs, .npz problems): the upload is recorded as rejected with a message that says how to export a
  supported file, nothing is loaded (the payloads' canary never appears), no weights or dataset come out of it;
- NAMES: hostile file names are accepted as labels only, cleaned, never used as paths.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from attacks.loading import save_safetensors
from riskapp.artifacts.models import DatasetArtifact, Finding, IntakeStatus, ModelArtifact
from riskapp.artifacts.services import model_upload
from riskapp.assessments.models import Evidence
from riskapp.jobs.execute import job_execute
from riskapp.jobs.models import Job
from tests.attacks import hostile
from tests.bad_input.checks import Refused, check_refused, state

pytestmark = pytest.mark.django_db

# First bytes the upload pre-check lets through (a safetensors header length, then "{"; a zip's member header);
# what the rest is, the intake decides.
WEIGHTS = (64).to_bytes(8, "little") + b"{the intake decides what these bytes are"
NPZ = b"PK\x03\x04 not really an npz"
NOTES = b"These are my notes, not a model.\n"
HDF5 = b"\x89HDF\r\n\x1a\n" + bytes(64)
PRECHECK_MODEL = "Upload a model as safetensors weights, a PyTorch state_dict saved with torch.save (.pt / .pth)"
PRECHECK_DATASET = "Upload a dataset as an .npz with arrays x and y (numpy.savez), or a zip of an image folder"
CARD = {"name": "uploaded", "version": "1", "role": "other", "input_min": 0, "input_max": 1}


def _resolved(fields: dict, w) -> dict:
    return {name: value(w) if callable(value) else value for name, value in fields.items()}


def api_model(content: bytes = WEIGHTS, filename: str = "w.safetensors", **card):
    def send(w):
        data = {"file": SimpleUploadedFile(filename, content), "name": "uploaded", **_resolved(card, w)}
        return w.api("assessor").post(w.api_url("models/upload/"), data, format="multipart")

    return send


def api_dataset(content: bytes = NPZ, filename: str = "d.npz", **fields):
    def send(w):
        data = {"file": SimpleUploadedFile(filename, content), "purpose": "evaluation", **_resolved(fields, w)}
        return w.api("assessor").post(w.api_url("datasets/upload/"), data, format="multipart")

    return send


def browser_model(content: bytes = WEIGHTS, filename: str = "w.safetensors", **card):
    def send(w):
        data = {"upload": SimpleUploadedFile(filename, content), **CARD, **_resolved(card, w)}
        return w.browser("assessor").post(w.page("models/upload/"), data)

    return send


def browser_dataset(content: bytes = NPZ, filename: str = "d.npz", **fields):
    def send(w):
        data = {"upload": SimpleUploadedFile(filename, content), "name": "d", "purpose": "evaluation", **fields}
        return w.browser("assessor").post(w.page("models/datasets/upload/"), data)

    return send


def edit_card(**card):
    """The model page's card form, on the ready student."""
    return lambda w: w.browser("assessor").post(w.page(f"models/{w.student.pk}/edit/"), {**CARD, **card})


def upload_limit(size: int):
    def given(w):
        w.settings.UPLOAD_MAX_BYTES = size

    return given


def uploaded_already(send):
    def given(w):
        assert send(w).status_code in (201, 302)

    return given


BIG = 5000  # bytes, over a 1 KiB limit: stopped while the body streams
DECLARED = 2 * 1024 * 1024  # over the limit plus the form's allowance: refused before reading the body
LIMIT_MESSAGE = "larger than the upload limit of 1.0\xa0KB. Upload a smaller file, or ask an administrator to raise"
OTHER_PROJECT_MODEL = lambda w: w.other.model.pk  # noqa: E731

DEEP_JSON = '{"mean": ' + "[" * 5000 + "]" * 5000 + "}"
TOO_DEEP = "Nested more than 32 levels deep; give a flatter value."
NUL_JSON = '{"interpolation": "bilinear\\u0000"}'
NUL = "A NUL character (\\u0000) cannot be stored; remove it."
NOT_FINITE = "NaN and infinite numbers (such as 1e999) are not JSON; give finite numbers."

REQUEST = [
    # Refused from the name and the first bytes, before anything is stored or queued.
    Refused(
        "browser: a text file as a model",
        browser_model(NOTES, filename="notes.txt"),
        400,
        {"form:model_form/upload": "“notes.txt” cannot be taken in as a model: its name (.txt) says it is a text"},
    ),
    Refused("API: a text file as a model", api_model(NOTES, filename="notes.txt"), 400, {"file": PRECHECK_MODEL}),
    Refused(
        "API: text under a model's name",
        api_model(NOTES, filename="w.safetensors"),
        400,
        {"file": "its first bytes are plain text, not a model file"},
    ),
    Refused(
        "API: a dataset uploaded as a model",
        api_model(NPZ, filename="data.npz"),
        400,
        {"file": ".npz files are datasets; upload it as a dataset instead"},
    ),
    Refused(
        "browser: a model uploaded as a dataset",
        browser_dataset(NPZ, filename="weights.pt"),
        400,
        {"form:dataset_form/upload": ".pt files are models; upload it as a model instead. " + PRECHECK_DATASET},
    ),
    Refused(
        "API: safetensors bytes as a dataset",
        api_dataset(WEIGHTS, filename="weights.bin"),
        400,
        {"file": "its first bytes are those of a model (safetensors or ONNX); upload it as a model instead"},
    ),
    Refused(
        "browser: a text file as a dataset",
        browser_dataset(NOTES, filename="labels.csv"),
        400,
        {"form:dataset_form/upload": "its name (.csv) says it is a text or document file, not a dataset"},
    ),
    Refused(
        "browser: Keras .h5",
        browser_model(HDF5, filename="model.h5"),
        400,
        {"form:model_form/upload": "Export a Keras or TensorFlow model to ONNX (e.g. with tf2onnx)"},
    ),
    Refused(
        "API: HDF5 bytes under a checkpoint's name",
        api_model(HDF5, filename="model.pt"),
        400,
        {"file": "its first bytes are those of an HDF5 (Keras .h5) file"},
    ),
    Refused(
        "API: Keras v3 .keras",
        api_model(NPZ, filename="model.keras"),
        400,
        {"file": "its name (.keras) says it is a Keras or TensorFlow file, not a model"},
    ),
    Refused("API: empty model file", api_model(b""), 400, {"file": "The submitted file is empty."}),
    Refused("API: empty dataset file", api_dataset(b""), 400, {"file": "The submitted file is empty."}),
    Refused(
        "API: no file",
        lambda w: w.api("assessor").post(w.api_url("models/upload/"), {"name": "x"}, format="multipart"),
        400,
        {"file": "No file was submitted."},
    ),
    Refused(
        "API: the file as a JSON string",
        lambda w: w.api("assessor").post(w.api_url("models/upload/"), {"file": "AAAA"}, format="json"),
        415,
        {"detail": 'Unsupported media type "application/json" in request.'},
    ),
    Refused(
        "API: over the upload limit, stopped mid-stream",
        api_model(b"x" * BIG),
        413,
        {"detail": LIMIT_MESSAGE},
        given=upload_limit(1024),
    ),
    Refused(
        "API: over the upload limit by its declared length",
        api_model(b"x" * DECLARED),
        413,
        {"detail": LIMIT_MESSAGE},
        given=upload_limit(1024),
    ),
    Refused(
        "API: the same model file twice",
        api_model(WEIGHTS + b"twice", name="again"),
        409,
        {"detail": "This file was uploaded already, as “uploaded” (same SHA-256).", "existing_id": ""},
        given=uploaded_already(api_model(WEIGHTS + b"twice")),
    ),
    Refused(
        "API: the same dataset file twice",
        api_dataset(NPZ + b"twice"),
        409,
        {"detail": "This file was uploaded already, as “d.npz” (same SHA-256)."},
        given=uploaded_already(api_dataset(NPZ + b"twice")),
    ),
    Refused(
        "API: unknown architecture",
        api_model(architecture="alexnet-9000"),
        400,
        {"architecture": "Unknown architecture 'alexnet-9000': type part of its name to search"},
    ),
    Refused(
        "API: an architecture name with the closest known ones",
        api_model(architecture="timm/resnet5000"),
        400,
        {"architecture": "Closest: timm/resnet50, torchvision/resnet50"},
    ),
    Refused(
        "API: preprocessing that contradicts the architecture",
        api_model(architecture="timm/resnet50", preprocessing='{"mean": [0.5, 0.5], "std": [0.2, 0.2]}'),
        400,
        {"preprocessing": "mean has 2 values for a 3-channel input"},
    ),
    Refused(
        "API: preprocessing with an unknown key",
        api_model(preprocessing='{"colour": "rgb"}'),
        400,
        {"preprocessing": "unknown keys colour"},
    ),
    Refused(
        "API: a teacher from another project",
        api_model(parent_id=OTHER_PROJECT_MODEL),
        400,
        {"parent_id": "in this project."},
    ),
    Refused(
        "API: a teacher's SHA-256 that is not one",
        api_model(teacher_sha256="abc"),
        400,
        {"teacher_sha256": "A SHA-256 is 64 hexadecimal characters."},
    ),
    Refused(
        "API: input range upside down",
        api_model(input_min=1, input_max=0),
        400,
        {"input_max": "The valid input range must have its maximum above its minimum."},
    ),
    Refused(
        "API: preprocessing that is not JSON",
        api_model(preprocessing="{scale: 255}"),
        400,
        {"preprocessing": "Not valid JSON: Expecting property name enclosed in double quotes"},
    ),
    Refused(
        "API: preprocessing nested 5,000 levels deep (was a 500: RecursionError)",
        api_model(preprocessing=DEEP_JSON),
        400,
        {"preprocessing": TOO_DEEP},
    ),
    Refused(
        "API: preprocessing with a NUL character (PostgreSQL's jsonb refuses it)",
        api_model(preprocessing=NUL_JSON),
        400,
        {"preprocessing": NUL},
    ),
    Refused(
        "API: preprocessing with NaN", api_model(preprocessing='{"scale": NaN}'), 400, {"preprocessing": NOT_FINITE}
    ),
    Refused(
        "API: preprocessing with Infinity",
        api_model(preprocessing='{"mean": [Infinity], "std": [1]}'),
        400,
        {"preprocessing": NOT_FINITE},
    ),
    Refused(
        "API: preprocessing with 1e999 (read as infinity)",
        api_model(preprocessing='{"scale": 1e999}'),
        400,
        {"preprocessing": NOT_FINITE},
    ),
    Refused(
        "API: preprocessing that is not an object",
        api_model(preprocessing="[1]"),
        400,
        {"preprocessing": 'Give an object, e.g. {"scale": 255}.'},
    ),
    Refused(
        "API: input shape that is not one",
        api_model(input_shape="one,eight,eight"),
        400,
        {"input_shape": "Give the shape as whole numbers, e.g. 3,32,32."},
    ),
    Refused(
        "API: one class (was refused after the file was stored)",
        api_model(architecture="cnn-digits", num_classes=1),
        400,
        {"num_classes": "Ensure this value is greater than or equal to 2."},
    ),
    Refused(
        "API: a trillion classes (was stored; PostgreSQL's integer overflows)",
        api_model(architecture="cnn-digits", num_classes=10**12),
        400,
        {"num_classes": "Ensure this value is less than or equal to 100000."},
    ),
    Refused(
        "API: teacher URL over 200 characters (was stored; PostgreSQL refuses it)",
        api_model(teacher_url="https://hub.example/" + "m" * 300),
        400,
        {"teacher_url": "Ensure this field has no more than 200 characters."},
    ),
    Refused(
        "API: name over 200 characters",
        api_model(name="n" * 201),
        400,
        {"name": "Ensure this field has no more than 200 characters."},
    ),
    Refused(
        "API: unknown model role",
        api_model(role="boss"),
        400,
        {"role": '"boss" is not a valid choice; choose one of: teacher, student, other.'},
    ),
    Refused("API: dataset without a purpose", api_dataset(purpose=""), 400, {"purpose": "not a valid choice"}),
    Refused(
        "API: unknown dataset purpose",
        api_dataset(purpose="eating"),
        400,
        {"purpose": '"eating" is not a valid choice; choose one of: evaluation, training, triggered.'},
    ),
    Refused(
        "browser: empty model file", browser_model(b""), 400, {"form:model_form/upload": "The submitted file is empty."}
    ),
    Refused(
        "browser: no model file",
        lambda w: w.browser("assessor").post(w.page("models/upload/"), CARD),
        400,
        {"form:model_form/upload": "This field is required."},
    ),
    Refused(
        "browser: over the upload limit",
        browser_model(b"x" * BIG),
        413,
        {"message": LIMIT_MESSAGE},
        given=upload_limit(1024),
    ),
    Refused(
        "browser: over the upload limit by its declared length",
        browser_dataset(b"x" * DECLARED),
        413,
        {"message": LIMIT_MESSAGE},
        given=upload_limit(1024),
    ),
    Refused(
        "browser: name over 200 characters",
        browser_model(name="n" * 201),
        400,
        {"form:model_form/name": "Ensure this value has at most 200 characters (it has 201)."},
    ),
    Refused(
        "browser: input range upside down",
        browser_model(input_min=1, input_max=0),
        400,
        {"form:model_form/input_max": "The valid input range must have its maximum above its minimum."},
    ),
    Refused(
        "browser: one class (was a 500 after the file was stored)",
        browser_model(architecture="cnn-digits", num_classes=1),
        400,
        {"form:model_form/num_classes": "A classifier has from 2 to 100000 classes"},
    ),
    Refused(
        "browser: teacher URL over 200 characters",
        browser_model(teacher_url="https://hub.example/" + "m" * 300),
        400,
        {"form:model_form/teacher_url": "Ensure this value has at most 200 characters"},
    ),
    Refused(
        "browser: a teacher from another project",
        browser_model(parent=OTHER_PROJECT_MODEL),
        400,
        {"form:model_form/parent": "Choose another model of this project."},
    ),
    Refused(
        "browser: empty dataset file",
        browser_dataset(b""),
        400,
        {"form:dataset_form/upload": "The submitted file is empty."},
    ),
    Refused(
        "browser: unknown dataset purpose",
        browser_dataset(purpose="eating"),
        400,
        {"form:dataset_form/purpose": "eating is not one of the available choices."},
    ),
    Refused(
        "browser: the same model file twice",
        browser_model(WEIGHTS + b"twice", name="again"),
        302,
        {"message": "This file was uploaded already, as “uploaded” (same SHA-256)."},
        given=uploaded_already(browser_model(WEIGHTS + b"twice")),
    ),
    Refused(
        "browser: the same dataset file twice",
        browser_dataset(NPZ + b"twice"),
        302,
        {"message": "This file was uploaded already, as “d” (same SHA-256)."},
        given=uploaded_already(browser_dataset(NPZ + b"twice")),
    ),
    Refused(
        "browser: card edit with the range upside down",
        edit_card(input_min=1, input_max=0),
        200,
        {"form:form/input_max": "The valid input range must have its maximum above its minimum."},
    ),
    Refused(
        "browser: preprocessing nested 5,000 levels deep (was a 500: RecursionError)",
        browser_model(preprocessing=DEEP_JSON),
        400,
        {"form:model_form/preprocessing": TOO_DEEP},
    ),
    Refused(
        "browser: preprocessing with 1e999 (read as infinity)",
        browser_model(preprocessing='{"crop_pct": 1e999}'),
        400,
        {"form:model_form/preprocessing": NOT_FINITE},
    ),
    Refused(
        "browser: card edit with preprocessing nested 5,000 levels deep (was a 500: RecursionError)",
        edit_card(preprocessing=DEEP_JSON),
        200,
        {"form:form/preprocessing": TOO_DEEP},
    ),
    Refused(
        "browser: card edit with preprocessing holding a NUL character",
        edit_card(preprocessing=NUL_JSON),
        200,
        {"form:form/preprocessing": NUL},
    ),
    Refused(
        "browser: card edit with preprocessing holding NaN",
        edit_card(preprocessing='{"std": [NaN], "mean": [0.5]}'),
        200,
        {"form:form/preprocessing": NOT_FINITE},
    ),
    Refused(
        "browser: card edit with a SHA-256 that is not one",
        edit_card(teacher_sha256="abc"),
        200,
        {"form:form/teacher_sha256": "A SHA-256 is 64 hexadecimal characters."},
    ),
    Refused(
        "browser: card edit making a model its own teacher",
        edit_card(parent=lambda w: w.student.pk),
        200,
        {"form:form/parent": "Choose another model of this project."},
    ),
]


@pytest.mark.parametrize("case", REQUEST, ids=str)
def test_bad_upload_is_refused_by_the_request_and_nothing_is_kept(world, sent_jobs, case):
    jobs_sent_before = list(sent_jobs)
    check_refused(world, case)
    assert sent_jobs == jobs_sent_before


def test_a_card_the_intake_cannot_start_with_leaves_no_stored_file(world):
    """Behind the forms' checks: if the intake job cannot be created, the stored upload is removed too
    (the rows roll back with the transaction; a file on disk would not)."""
    before = state()
    with pytest.raises(ValidationError, match="num_classes: Ensure this value is greater than or equal to 2"):
        model_upload(
            actor=world.team.assessor,
            project=world.project,
            upload=SimpleUploadedFile("w.safetensors", b"weights"),
            sha256=hashlib.sha256(b"weights").hexdigest(),
            card={"name": "w", "architecture": "cnn-digits", "num_classes": 1},
        )
    assert state() == before


# --- refused by the intake scan ----------------------------------------------------------------------------------

SAVE_WEIGHTS = "Save only the weights: `safetensors.torch.save_file(model.state_dict(), 'model.safetensors')`"
EXPORT_ONNX = "Export the model to ONNX (e.g. with tf2onnx) as a single file without external data."
SAVE_DATASET = "Save the evaluation data with `numpy.savez('data.npz', x=x.astype('float32'), y=y.astype('int64'))`."
RESAVE = "Save the file again directly with `torch.save(model.state_dict(), ...)` or `numpy.savez(...)`"
NOT_LOADED = "which can run commands or code when loaded. This file is malicious or was built to look malicious"


@dataclass(frozen=True)
class RefusedAtIntake:
    """A file the request takes in and the intake scan refuses: `says` are fragments of the rejection message."""

    id: str
    build: Callable[[Path, Path], Path]  # (folder, canary) -> the file
    says: tuple[str, ...]
    kind: str = "model"
    via: str = "browser"
    card: dict = field(default_factory=dict)
    malicious: bool = False
    upload_limit: int | None = None

    def __str__(self) -> str:
        return self.id


def _npz(path: Path, **arrays) -> Path:
    with path.open("wb") as stream:
        np.savez(stream, **arrays)
    return path


def _digits(n: int = 4) -> dict:
    return {"x": np.zeros((n, 1, 8, 8), np.float32), "y": np.zeros(n, np.int64)}


def _zip_bomb(path: Path) -> Path:
    """1 MiB of zeros compressed to about 1.5 KiB: declares far more than the 64 KiB limit once unpacked."""
    with path.open("wb") as stream:
        np.savez_compressed(stream, x=np.zeros((4096, 1, 8, 8), np.float32), y=np.zeros(4096, np.int64))
    return path


def _tiny_safetensors(path: Path) -> Path:
    save_safetensors(hostile.TinyNet().state_dict(), path)
    return path


INTAKE = [
    RefusedAtIntake(
        "a dataset uploaded as a model, under a model's name",
        lambda d, c: _npz(d / "data.pt", **_digits()),
        ("This file is a dataset (npz) but a model was expected here.", "datasets go under evaluation data"),
        via="api",
    ),
    RefusedAtIntake(
        "a model uploaded as a dataset, under a zip's name",
        lambda d, c: hostile.benign_state_dict(d / "weights.zip"),
        ("This file is a model (pytorch_zip) but a dataset was expected here.", "Upload an .npz with arrays x and y"),
        kind="dataset",
    ),
    RefusedAtIntake(
        "a pickled whole module",
        lambda d, c: hostile.whole_module(d / "model.pt"),
        ("This file is a pickled full module", SAVE_WEIGHTS),
        via="api",
    ),
    RefusedAtIntake(
        "TorchScript",
        lambda d, c: hostile.torchscript_archive(d / "model.pt"),
        ("This is a TorchScript archive (torch.jit.save), which is code and has no safe loader.", SAVE_WEIGHTS),
    ),
    RefusedAtIntake(
        "Keras v3 under a zip's name",
        lambda d, c: hostile.keras_v3(d / "model.zip"),
        ("Keras v3 (.keras) archive", EXPORT_ONNX),
    ),
    RefusedAtIntake(
        "a legacy torch.save file",
        lambda d, c: hostile.legacy_torch(d / "model.pt"),
        ("legacy (pre-1.6, non-zip) torch.save file", SAVE_WEIGHTS),
    ),
    RefusedAtIntake(
        "a checkpoint whose pickle runs os.system (malicious reduce)",
        lambda d, c: hostile.torch_zip_with(d / "model.pt", hostile.SystemPayload(c)),
        ("imports posix.system", NOT_LOADED),
        malicious=True,
        via="api",
    ),
    RefusedAtIntake(
        "a raw pickle with the methodcaller gadget",
        lambda d, c: hostile.gadget_pickle(d / "gadget.pkl", c),
        ("This file is a raw Python pickle", "imports operator.methodcaller", NOT_LOADED),
        malicious=True,
    ),
    RefusedAtIntake(
        "a malicious pickle named .safetensors",
        lambda d, c: hostile.system_pickle(d / "model.safetensors", c),
        ("raw Python pickle", NOT_LOADED),
        malicious=True,
    ),
    RefusedAtIntake(
        "a malicious pickle named .onnx",
        lambda d, c: hostile.system_pickle(d / "model.onnx", c),
        ("raw Python pickle", NOT_LOADED),
        malicious=True,
    ),
    RefusedAtIntake(
        "a malicious pickle named .npz, as a dataset",
        lambda d, c: hostile.system_pickle(d / "data.npz", c),
        ("raw Python pickle", NOT_LOADED),
        kind="dataset",
        malicious=True,
    ),
    RefusedAtIntake(
        "a checkpoint with a second data.pkl carrying os.system",
        lambda d, c: hostile.zip_duplicate_data_pkl(d / "model.pt", c),
        ("more than once (names compared ignoring case)", NOT_LOADED),
        malicious=True,
    ),
    RefusedAtIntake(
        "a checkpoint with a nested zip whose pickle runs os.system",
        lambda d, c: hostile.zip_nested_pickle(d / "model.pt", c),
        ("is itself an archive; nested archives are not accepted.", "extras.zip/payload.pkl' imports posix.system"),
        malicious=True,
    ),
    RefusedAtIntake(
        "a checkpoint with an os.system pickle three zips deep",
        lambda d, c: hostile.zip_nested_pickle(d / "model.pt", c, levels=3),
        ("is itself an archive; nested archives are not accepted.", NOT_LOADED),
        malicious=True,
        via="api",
    ),
    RefusedAtIntake(
        "zip bomb: a dataset that unpacks to 1 MiB under a 64 KiB limit",
        lambda d, c: _zip_bomb(d / "bomb.npz"),
        ("The zip archive declares 1081600 bytes once unpacked, over the 65536-byte limit.", RESAVE),
        kind="dataset",
        upload_limit=64 * 1024,
    ),
    RefusedAtIntake(
        "zip bomb: overlapping members",
        lambda d, c: hostile.zip_overlapping_members(d / "model.pt"),
        ("Zip members overlap each other in the file (a zip-bomb technique).", RESAVE),
    ),
    RefusedAtIntake(
        "a checkpoint with a ../ member",
        lambda d, c: hostile.zip_dotdot_member(d / "model.pt"),
        ("climbs out of the archive ('..')", RESAVE),
    ),
    RefusedAtIntake(
        "a checkpoint with a nested archive",
        lambda d, c: hostile.zip_nested_archive(d / "model.pt"),
        ("is itself an archive; nested archives are not accepted.", RESAVE),
    ),
    RefusedAtIntake(
        "a checkpoint with a bad CRC",
        lambda d, c: hostile.zip_bad_crc(d / "model.pt"),
        ("fails its checksum (CRC): the file is damaged or was altered.", RESAVE),
    ),
    RefusedAtIntake(
        "safetensors with 100,000 entries",
        lambda d, c: hostile.safetensors_many_entries(d / "many.safetensors"),
        ("The safetensors header lists more than 50000 tensors.", "Save the weights again with"),
    ),
    RefusedAtIntake(
        "safetensors whose header runs past the end",
        lambda d, c: hostile.safetensors_header_past_end(d / "past.safetensors"),
        ("runs past the end of the 73-byte file.", "Save the weights again with"),
    ),
    RefusedAtIntake(
        "safetensors with overlapping tensors",
        lambda d, c: hostile.safetensors_overlapping(d / "overlap.safetensors"),
        ("The safetensors entries 'a' and 'b' share bytes.", "Save the weights again with"),
    ),
    RefusedAtIntake(
        "ONNX with external data",
        lambda d, c: hostile.onnx_external_data(d / "model.onnx"),
        ("keeps its data in an external file", "Export with `external_data=False`"),
    ),
    RefusedAtIntake(
        "ONNX with a custom operator domain",
        lambda d, c: hostile.onnx_custom_domain(d / "model.onnx"),
        ("non-standard operator domain 'com.evil'", "Export with standard operators only."),
    ),
    RefusedAtIntake(
        "safetensors weights without an architecture",
        lambda d, c: _tiny_safetensors(d / "weights.safetensors"),
        ("Choose the architecture these weights belong to.",),
        via="api",
    ),
    RefusedAtIntake(
        ".npz with an object array (allow_pickle) carrying os.system",
        lambda d, c: hostile.npz_object_array(d / "objects.npz", c),
        ("The array 'x' has an object dtype", "Convert it to a numeric array before saving.", NOT_LOADED),
        kind="dataset",
        malicious=True,
        via="api",
    ),
    RefusedAtIntake(
        ".npz with an os.system object array saved under another name (arr_0)",
        lambda d, c: hostile.npz_object_array_named(d / "objects.npz", c),
        ("The dataset contains 'arr_0.npy'; only arrays named x, y", "'arr_0.npy' imports posix.system", NOT_LOADED),
        kind="dataset",
        malicious=True,
    ),
    RefusedAtIntake(
        ".npz holding an .npz whose object array carries os.system",
        lambda d, c: hostile.npz_with_nested_npz(d / "nested.npz", c),
        ("The dataset contains 'extra.npz'", NOT_LOADED),
        kind="dataset",
        malicious=True,
        via="api",
    ),
    RefusedAtIntake(
        ".npz without y",
        lambda d, c: _npz(d / "noy.npz", x=_digits()["x"]),
        ("The dataset has no 'y' array.", SAVE_DATASET),
        kind="dataset",
    ),
    RefusedAtIntake(
        ".npz without x",
        lambda d, c: _npz(d / "nox.npz", y=_digits()["y"]),
        ("The dataset has no 'x' array.", SAVE_DATASET),
        kind="dataset",
        via="api",
    ),
    RefusedAtIntake(
        ".npz with more samples than labels",
        lambda d, c: _npz(d / "short.npz", x=_digits(4)["x"], y=_digits(3)["y"]),
        ("The array 'y' has 3 labels for 4 samples in x.", SAVE_DATASET),
        kind="dataset",
    ),
    RefusedAtIntake(
        ".npz with integer images",
        lambda d, c: _npz(d / "ints.npz", x=np.zeros((4, 1, 8, 8), np.int32), y=_digits()["y"]),
        ("x must be floating point (e.g. float32 scaled to [0, 1])", SAVE_DATASET),
        kind="dataset",
    ),
]


def _upload(world, case: RefusedAtIntake, path: Path):
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    if case.via == "api":
        data = {"file": upload, "name": case.id[:200], **case.card}
        data |= {"purpose": "evaluation"} if case.kind == "dataset" else {}
        url = world.api_url("models/upload/" if case.kind == "model" else "datasets/upload/")
        return world.api("assessor").post(url, data, format="multipart")
    if case.kind == "model":
        data = {"upload": upload, **CARD, "name": case.id[:200], **case.card}
        return world.browser("assessor").post(world.page("models/upload/"), data)
    data = {"upload": upload, "name": case.id[:200], "purpose": "evaluation"}
    return world.browser("assessor").post(world.page("models/datasets/upload/"), data)


@pytest.mark.parametrize("case", INTAKE, ids=str)
def test_file_refused_by_the_intake_says_how_to_export_a_supported_one(
    world, tmp_path, canary, sent_jobs, django_capture_on_commit_callbacks, case
):
    if case.upload_limit:
        world.settings.UPLOAD_MAX_BYTES = case.upload_limit
    artifacts = ModelArtifact if case.kind == "model" else DatasetArtifact
    jobs_before = set(Job.objects.values_list("pk", flat=True))
    path = case.build(tmp_path, canary)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(world, case, path)
    assert response.status_code == (201 if case.via == "api" else 302), response.content[:1000]

    artifact = artifacts.objects.get(project=world.project, name=case.id[:200])
    assert job_execute(job_id=artifact.intake_job_id) is not None  # the intake ran to an end
    artifact.refresh_from_db()
    assert artifact.status == IntakeStatus.REJECTED
    for fragment in case.says:
        assert fragment in artifact.status_message, artifact.status_message
    assert not canary.exists()  # nothing in the file ran
    output = artifact.weights if case.kind == "model" else artifact.normalised
    assert not output  # no normalised weights or dataset came out of it
    new_jobs = Job.objects.exclude(pk__in=jobs_before)
    assert [job.pk for job in new_jobs] == [artifact.intake_job_id]
    assert sent_jobs == [(artifact.intake_job_id, "interactive")]
    findings = Finding.objects.filter(project=world.project, kind="malicious_file")
    evidence = Evidence.objects.filter(project=world.project, kind="malicious_file_found")
    if case.malicious:  # recorded as a security finding, and as evidence for the risk register
        assert findings.get().detail["sha256"] == artifact.sha256 and evidence.get().value == 1
    else:
        assert not findings.exists() and not evidence.exists()

    # The user reads why, where they look.
    if case.via == "api":
        detail = world.api("viewer").get(world.api_url(f"{case.kind}s/{artifact.pk}/")).json()
        assert detail["status"] == "rejected" and detail["status_message"] == artifact.status_message
    else:
        page = world.page(f"models/{artifact.pk}/") if case.kind == "model" else world.page("models/")
        html = world.browser("viewer").get(page).content.decode()
        assert "Rejected" in html and escape(case.says[0]) in html
        if case.malicious:
            assert "malicious signature" in world.browser("viewer").get(world.page("models/")).content.decode()


# --- hostile file names: labels only -------------------------------------------------------------------------------

NAMES = [
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "evil\x00.safetensors",
    "a" * 500 + ".onnx",
    "<img src=x onerror=alert(1)>.onnx",
]


@pytest.mark.parametrize("via", ["api", "browser"])
@pytest.mark.parametrize("name", NAMES, ids=["dotdot", "backslashes", "nul", "500 characters", "markup"])
def test_hostile_file_name_is_only_a_cleaned_label(world, via, name):
    content = b"\x08\x07" + f"{via} {name}".encode()  # first bytes an ONNX file may have: past the pre-check
    upload = SimpleUploadedFile(name, content)
    if via == "api":
        data = {"file": upload}
        response = world.api("assessor").post(world.api_url("models/upload/"), data, format="multipart")
    else:
        data = {"upload": upload, **CARD, "name": ""}
        response = world.browser("assessor").post(world.page("models/upload/"), data)
    assert response.status_code in (201, 302), response.content[:1000]
    model = ModelArtifact.objects.get(project=world.project, sha256=hashlib.sha256(content).hexdigest())
    label = model.original_name
    assert label and len(label) <= 200 and not any(c in label for c in "/\\\x00")
    stored = Path(model.file.path).resolve()
    assert stored.is_relative_to(Path(settings.STORAGES["default"]["OPTIONS"]["location"]).resolve())
    assert stored.name.endswith(".upload") and label not in stored.name  # a server-made name
    html = world.browser("viewer").get(world.page("models/")).content.decode()
    assert escape(label) in html and "<img src=x" not in html  # shown as text, never as markup
