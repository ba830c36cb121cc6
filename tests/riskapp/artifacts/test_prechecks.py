"""The upload pre-check on a name and the first bytes: what it refuses, what it leaves to the intake scan, and
messages that speak about the kind of upload at hand."""

import pickle

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from riskapp.artifacts.prechecks import refusal_for, upload_refusal
from tests.attacks.hostile import SystemPayload

SAFETENSORS_HEAD = (16).to_bytes(8, "little") + b'{"w": {"dtype":'
ONNX_HEAD = b"\x08\x07\x12\x07pytorch"
ZIP_HEAD = b"PK\x03\x04\x14\x00\x00\x00"
HDF5_HEAD = b"\x89HDF\r\n\x1a\n" + bytes(64)
NOTES = b"These are my notes, not a model.\n"


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("teacher.safetensors", SAFETENSORS_HEAD),
        ("teacher.onnx", ONNX_HEAD),
        ("student.pt", ZIP_HEAD),
        ("hf-folder.zip", ZIP_HEAD),
        ("weights", SAFETENSORS_HEAD),  # no extension: the bytes decide
    ],
)
def test_model_formats_pass_to_the_intake_scan(name, head):
    assert refusal_for(kind="model", name=name, head=head) is None


@pytest.mark.parametrize(("name", "head"), [("digits.npz", ZIP_HEAD), ("flowers.zip", ZIP_HEAD), ("set", ZIP_HEAD)])
def test_dataset_formats_pass_to_the_intake_scan(name, head):
    assert refusal_for(kind="dataset", name=name, head=head) is None


def test_a_txt_as_a_model_is_refused_with_the_model_formats():
    message = refusal_for(kind="model", name="notes.txt", head=NOTES)
    assert message.startswith("“notes.txt” cannot be taken in as a model: its name (.txt) says it is a text")
    assert "safetensors weights" in message and "ONNX" in message and ".npz" not in message


def test_a_txt_as_a_dataset_is_refused_with_the_dataset_formats():
    message = refusal_for(kind="dataset", name="notes.txt", head=NOTES)
    assert message.startswith("“notes.txt” cannot be taken in as a dataset:")
    assert "an .npz with arrays x and y" in message and "image folder" in message
    assert "safetensors" not in message


def test_text_under_a_model_name_is_refused_by_its_first_bytes():
    message = refusal_for(kind="model", name="teacher.safetensors", head=NOTES)
    assert "its first bytes are plain text, not a model file" in message


def test_text_that_starts_like_a_pickle_opcode_is_still_text():
    # 'c' is a protocol 0 pickle's import opcode; "at the shop" is no Python name, so this is no import.
    message = refusal_for(kind="model", name="list.bin", head=b"cat the shop\nbuy milk\n" * 40)
    assert "its first bytes are plain text" in message


def test_bytes_of_no_known_format_are_refused():
    message = refusal_for(kind="model", name="teacher.onnx", head=b"\xff\xfe\x00\x01" * 8)
    assert "its first bytes match none of the model formats riskapp reads" in message


def test_an_npz_as_a_model_and_a_checkpoint_as_a_dataset_are_sent_to_the_other_form():
    model = refusal_for(kind="model", name="digits.npz", head=ZIP_HEAD)
    dataset = refusal_for(kind="dataset", name="student.pt", head=ZIP_HEAD)
    assert ".npz files are datasets; upload it as a dataset instead" in model
    assert ".pt files are models; upload it as a model instead" in dataset


def test_model_bytes_as_a_dataset_are_refused_whatever_the_name():
    for head in (SAFETENSORS_HEAD, ONNX_HEAD):
        message = refusal_for(kind="dataset", name="data", head=head)
        assert "first bytes are those of a model (safetensors or ONNX); upload it as a model instead" in message


def test_keras_is_refused_with_how_to_export_to_onnx():
    by_bytes = refusal_for(kind="model", name="model.weights", head=HDF5_HEAD)
    by_name = refusal_for(kind="model", name="model.keras", head=ZIP_HEAD)
    assert "HDF5 (Keras .h5)" in by_bytes and "Export a Keras or TensorFlow model to ONNX" in by_bytes
    assert "a Keras or TensorFlow file" in by_name and "tf2onnx" in by_name


@pytest.mark.parametrize("protocol", [0, 1, 2, 4])
def test_a_pickle_goes_on_to_the_intake_scan_so_a_payload_becomes_a_finding(tmp_path, protocol):
    payload = pickle.dumps(SystemPayload(tmp_path / "CANARY"), protocol=protocol)
    for name in ("evil.txt", "evil.safetensors", "evil.npz"):
        assert refusal_for(kind="model", name=name, head=payload[:4096]) is None
        assert refusal_for(kind="dataset", name=name, head=payload[:4096]) is None
    assert not (tmp_path / "CANARY").exists()


def test_the_message_names_the_file_by_its_cleaned_label_never_its_path():
    message = refusal_for(kind="model", name="../../home/ana/notes\x00.txt", head=NOTES)
    assert message.startswith("“notes.txt” cannot be taken in as a model")


def test_the_upload_is_read_from_its_start_and_left_there():
    upload = SimpleUploadedFile("notes.md", NOTES)
    upload.read(5)
    assert "its name (.md) says it is a text or document file" in upload_refusal(upload, kind="model")
    assert upload.tell() == 0


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="kind must be one of"):
        refusal_for(kind="weights", name="a.pt", head=ZIP_HEAD)
