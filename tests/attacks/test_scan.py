"""The static scan: benign files of every supported format pass, formats are told from the bytes,
each structural rule refuses what it should, and the report has a stable JSON shape."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attacks.context import UserError
from attacks.scan import SCHEMA, scan_file
from attacks.scanners import zips
from attacks.scanners.findings import MESSAGES
from tests.attacks import hostile

MAX_BYTES = 50 * 1024 * 1024
EXPECTED_FORMAT = {
    "state_dict.pt": "pytorch_zip",
    "weights.safetensors": "safetensors",
    "exported.onnx": "onnx",
    "handmade.onnx": "onnx",
    "digits.npz": "npz",
    "images.zip": "image_folder",
}


def codes(path: Path, **kwargs) -> list[str]:
    return [reason.code for reason in scan_file(path, max_bytes=kwargs.pop("max_bytes", MAX_BYTES), **kwargs).reasons]


def safetensors_file(path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_benign_file_of_every_supported_format_is_accepted(benign_files):
    for name, path in benign_files.items():
        report = scan_file(path, max_bytes=MAX_BYTES)
        assert report.accepted, (name, [r.message for r in report.reasons])
        assert report.format == EXPECTED_FORMAT[name] and report.reasons == [] and not report.malicious


def test_format_is_sniffed_from_the_bytes_not_the_name(benign_files, tmp_path: Path):
    for name, path in benign_files.items():
        disguised = shutil.copy(path, tmp_path / f"{name}.jpg")
        assert scan_file(Path(disguised), max_bytes=MAX_BYTES).format == EXPECTED_FORMAT[name]


def test_report_as_dict_has_the_versioned_schema(benign_files, tmp_path: Path, canary: Path):
    accepted = scan_file(benign_files["state_dict.pt"], max_bytes=MAX_BYTES).as_dict()
    refused = scan_file(hostile.system_pickle(tmp_path / "m.pt", canary), max_bytes=MAX_BYTES).as_dict()
    keys = {"schema", "accepted", "format", "kind", "malicious", "sha256", "size", "max_bytes", "reasons"}
    assert set(accepted) == keys and set(refused) == keys
    assert accepted["schema"] == SCHEMA == "riskapp.scan/1"
    assert accepted["kind"] == "model" and refused["kind"] is None
    assert refused["malicious"] is True and refused["accepted"] is False
    assert {tuple(sorted(reason)) for reason in refused["reasons"]} == {("code", "malicious", "member", "message")}
    assert json.loads(json.dumps(refused)) == refused


def test_sha256_and_size_describe_the_file(benign_files):
    import hashlib

    path = benign_files["digits.npz"]
    report = scan_file(path, max_bytes=MAX_BYTES)
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and report.size == path.stat().st_size


def test_file_over_the_size_limit_is_refused(benign_files):
    path = benign_files["digits.npz"]
    assert codes(path, max_bytes=path.stat().st_size - 1) == ["too_large"]


def test_empty_and_unknown_files_are_refused(tmp_path: Path):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("hello, I am not a model\n")
    assert codes(tmp_path / "empty.pt") == ["empty_file"]
    assert codes(tmp_path / "text.pt") == ["unknown_format"]


def test_missing_file_is_a_user_error(tmp_path: Path):
    with pytest.raises(UserError, match="No such file"):
        scan_file(tmp_path / "nope.pt", max_bytes=MAX_BYTES)


def test_expect_refuses_a_dataset_uploaded_as_a_model_and_the_reverse(benign_files):
    assert codes(benign_files["digits.npz"], expect="model") == ["wrong_kind"]
    assert codes(benign_files["weights.safetensors"], expect="dataset") == ["wrong_kind"]
    assert codes(benign_files["weights.safetensors"], expect="model") == []
    assert codes(benign_files["images.zip"], expect="model") == ["wrong_kind"]
    assert codes(benign_files["images.zip"], expect="dataset") == []


def test_bare_npy_array_is_refused_with_savez_advice(tmp_path: Path):
    np.save(tmp_path / "x.npy", np.zeros(3, np.float32))
    report = scan_file(tmp_path / "x.npy", max_bytes=MAX_BYTES)
    assert report.format == "npy" and "numpy.savez" in report.reasons[0].message


# --- safetensors ----------------------------------------------------------------------------


def test_safetensors_rules(tmp_path: Path):
    ok = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    assert codes(safetensors_file(tmp_path / "ok.safetensors", {**ok, "__metadata__": {"k": "v"}}, b"\0" * 8)) == []
    cases = {
        "safetensors_size_mismatch": ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8),
        "safetensors_offsets_out_of_bounds": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, 8),
        "safetensors_bad_dtype": ({"a": {"dtype": "OBJECT", "shape": [2], "data_offsets": [0, 8]}}, 8),
        "safetensors_bad_entry": ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8),
        "safetensors_incomplete": (ok, 12),
    }
    for code, (header, data_size) in cases.items():
        assert codes(safetensors_file(tmp_path / f"{code}.safetensors", header, b"\0" * data_size)) == [code]


def test_safetensors_header_with_duplicate_keys_is_refused(tmp_path: Path):
    raw = b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "da'
    raw += b'ta_offsets": [0, 1]}}'
    (tmp_path / "dup.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0")
    report = scan_file(tmp_path / "dup.safetensors", max_bytes=MAX_BYTES)
    assert [r.code for r in report.reasons] == ["safetensors_header_json"] and "duplicate" in report.reasons[0].message


# --- zip containers -------------------------------------------------------------------------


def test_zip_with_too_many_members_is_refused_before_reading_them(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(zips, "MAX_MEMBERS", 8)
    assert codes(hostile.zip_with_members(tmp_path / "many.pt", 10)) == ["zip_too_many_members"]


def test_zip_declaring_more_unpacked_bytes_than_the_limit_is_refused(tmp_path: Path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", b"\0" * 2_000_000)
    assert path.stat().st_size < 100_000
    assert codes(path, max_bytes=100_000) == ["zip_too_large"]


def test_zip_case_duplicates_absolute_paths_and_encryption_flags_are_refused(tmp_path: Path):
    path = tmp_path / "odd.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/DATA.pkl", b"\x80\x02}q\x00.")
        archive.writestr("/etc/cron.d/evil", b"* * * * * root true\n")
    found = codes(path)
    assert "zip_duplicate_member" in found and "zip_unsafe_path" in found
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 1)  # the "encrypted" flag bit of the first member
    path.write_bytes(bytes(data))
    assert "zip_encrypted" in codes(path)


def test_zips_that_make_zipfile_itself_fail_are_refused_not_crashed_on(tmp_path: Path):
    from attacks.loading import load_state_dict

    path = hostile.benign_state_dict(tmp_path / "future.pt")
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, data.index(b"PK\x01\x02") + 6, 147)  # "needs zip version 14.7"
    path.write_bytes(bytes(data))
    assert codes(path) == ["zip_corrupt"]
    with pytest.raises(UserError, match="damaged"):
        load_state_dict(path)

    mangled = hostile.benign_state_dict(tmp_path / "mangled.pt")
    data = bytearray(mangled.read_bytes())
    struct.pack_into("<H", data, 6, 0x800)  # first local header: "the name is UTF-8" ...
    data[30] = 0xFF  # ... and it is not
    mangled.write_bytes(bytes(data))
    assert "zip_corrupt" in codes(mangled)


def test_checkpoint_with_an_extra_member_or_foreign_global_is_refused(tmp_path: Path):
    import pickle
    from collections import Counter

    path = tmp_path / "extra.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Counter(a=1), protocol=2))
        archive.writestr("archive/notes.txt", b"hi")
    found = scan_file(path, max_bytes=MAX_BYTES)
    assert [r.code for r in found.reasons] == ["torch_unexpected_member", "pickle_unexpected_global"]
    assert "collections.Counter" in found.reasons[1].message and not found.malicious


def test_truncated_checkpoint_pickle_is_a_scan_error(tmp_path: Path):
    path = tmp_path / "cut.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02ccollections\nOrderedDict\nq\x00)R")  # no STOP
    assert "pickle_scan_error" in codes(path)


def test_state_dicts_with_parameters_and_new_dtypes_are_accepted(tmp_path: Path):
    import torch

    state = {"p": torch.nn.Parameter(torch.ones(2)), "u16": torch.zeros(2, dtype=torch.uint16)}
    state["f8"] = torch.zeros(2).to(torch.float8_e4m3fn)
    torch.save(state, tmp_path / "mixed.pt")
    assert codes(tmp_path / "mixed.pt") == []


# --- npz ------------------------------------------------------------------------------------


def test_npz_rules(tmp_path: Path):
    def npz(name: str, **arrays) -> Path:
        with (tmp_path / name).open("wb") as stream:
            np.savez(stream, **arrays)
        return tmp_path / name

    x, y = np.zeros((4, 1, 2, 2), np.float32), np.array([0, 1, 0, 1])
    assert codes(npz("ok.npz", x=x, y=y, poison_mask=np.array([0, 1, 0, 0], bool))) == []
    assert codes(npz("extra.npz", x=x, y=y, z=y)) == ["npz_unexpected_member"]
    assert codes(npz("missing.npz", x=x)) == ["npz_missing_member"]
    assert codes(npz("int_x.npz", x=x.astype(np.int16), y=y)) == ["npz_bad_array"]
    assert codes(npz("byte_x.npz", x=x.astype(np.uint8), y=y)) == []  # images as bytes, scaled when loaded
    assert codes(npz("count.npz", x=x, y=y[:3])) == ["npz_bad_array"]
    onehot = scan_file(npz("onehot.npz", x=x, y=np.eye(2)[y].astype(np.int64)), max_bytes=MAX_BYTES)
    assert "one-hot" in onehot.reasons[0].message


# --- ONNX -----------------------------------------------------------------------------------


def test_onnx_that_fails_to_parse_is_refused(tmp_path: Path):
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07" + b"\xff" * 64)
    assert codes(tmp_path / "bad.onnx") == ["onnx_parse_error"]


def test_onnx_custom_domain_in_opset_imports_alone_is_refused(tmp_path: Path):
    import onnx

    from tests.attacks.conftest import handmade_onnx

    model = onnx.load(str(handmade_onnx(tmp_path / "m.onnx")))
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    onnx.save_model(model, str(tmp_path / "ms.onnx"))
    report = scan_file(tmp_path / "ms.onnx", max_bytes=MAX_BYTES)
    assert [r.code for r in report.reasons] == ["onnx_custom_domain"] and "com.microsoft" in report.reasons[0].message


# --- robustness -----------------------------------------------------------------------------

PREFIXES = [b"", b"PK\x03\x04", b"PK\x05\x06", b"\x80\x04", b"\x93NUMPY", b"\x89HDF\r\n\x1a\n", b"\x08\x07"]
PREFIXES.append(struct.pack("<Q", 40) + b'{"a": {"dtype": "U8", "shape": [1], "data_')


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=1500))
def test_scan_never_crashes_on_arbitrary_bytes(prefix: bytes, body: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.bin"
        path.write_bytes(prefix + body)
        report = scan_file(path, max_bytes=MAX_BYTES)
    assert report.accepted == (not report.reasons and report.kind is not None)
    json.dumps(report.as_dict())


def test_every_code_has_a_message_that_formats():
    import string

    from attacks.scanners.findings import finding

    for code, template in MESSAGES.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name and name != "member"}
        message = finding(code, member="archive/data.pkl", **dict.fromkeys(fields, "7")).message
        assert "{" not in message and len(message) > 40, code


def test_scan_does_not_import_torch_so_the_web_process_stays_light(benign_files):
    code = (
        "import sys; from pathlib import Path; from attacks.scan import scan_file; "
        f"r = scan_file(Path({str(benign_files['state_dict.pt'])!r}), max_bytes=10**8); "
        "print(r.accepted, 'torch' in sys.modules, 'django' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False"]


def test_every_rejection_code_and_message_is_documented_in_docs_engine_md():
    from attacks.scanners.findings import MALICIOUS_CODES

    document = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text(encoding="utf-8")
    escaped = {code: message.replace("|", "\\|") for code, message in MESSAGES.items()}
    rows = [f"| `{code}` | {'yes' if code in MALICIOUS_CODES else ''} | {escaped[code]} |" for code in MESSAGES]
    missing = [row for row in rows if row not in document]
    assert "riskapp.scan/1" in document
    assert missing == [], "update the rejection-code table in docs/engine.md:\n" + "\n".join(missing)
