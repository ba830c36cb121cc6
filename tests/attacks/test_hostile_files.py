"""Every hostile file is refused by the scan with a clear message, refused again by every loader,
and no payload ever runs: each payload tries to create a canary file, which must never appear."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from attacks.context import UserError
from attacks.loading import load_dataset, load_onnx, load_state_dict
from attacks.scan import scan_file
from tests.attacks import hostile
from tests.attacks.hostile import CASES

MAX_BYTES = 50 * 1024 * 1024
# Each message must tell the user what to do next, or that the file is malicious.
ADVICE_WORDS = ("state_dict", "safetensors", "onnx", "savez", "malicious", "save", "export", "upload")


@pytest.fixture(params=list(CASES), ids=list(CASES))
def hostile_case(request, tmp_path: Path, canary: Path):
    build, fmt, code, malicious = CASES[request.param]
    folder = tmp_path / "upload"
    folder.mkdir()
    return build(folder, canary), fmt, code, malicious


def test_hostile_file_is_refused_with_a_clear_message(hostile_case, canary: Path):
    path, fmt, code, malicious = hostile_case
    report = scan_file(path, max_bytes=MAX_BYTES)
    codes = [reason.code for reason in report.reasons]
    assert report.accepted is False
    assert report.format == fmt
    assert code in codes
    assert report.malicious is malicious
    for reason in report.reasons:
        assert any(word in reason.message.lower() for word in ADVICE_WORDS), reason.message
    assert not canary.exists()


def test_every_loader_refuses_the_hostile_file_and_no_payload_runs(hostile_case, canary: Path):
    path = hostile_case[0]
    for loader in (load_state_dict, load_onnx, load_dataset):
        with pytest.raises(UserError):
            loader(path)
    assert not canary.exists()


def test_payloads_are_live_when_unpickled_unsafely(tmp_path: Path, canary: Path):
    """The control: the same payloads do create the canary when someone calls pickle.loads."""
    for payload in (hostile.SystemPayload(canary), hostile.MethodcallerGadget(canary)):
        canary.unlink(missing_ok=True)
        pickle.loads(pickle.dumps(payload))  # noqa: S301 - the point of this test
        assert canary.exists()


def test_whole_module_message_says_how_to_export_a_state_dict(tmp_path: Path):
    report = scan_file(hostile.whole_module(tmp_path / "model.pt"), max_bytes=MAX_BYTES)
    message = report.reasons[0].message
    assert "pickled full module" in message and "tests.attacks.hostile.TinyNet" in message
    assert "model.state_dict()" in message and "safetensors.torch.save_file" in message


def test_gadget_is_flagged_even_without_an_os_global(tmp_path: Path, canary: Path):
    report = scan_file(hostile.gadget_pickle(tmp_path / "m.pt", canary), max_bytes=MAX_BYTES)
    dangerous = next(reason for reason in report.reasons if reason.code == "pickle_dangerous_global")
    assert "operator.methodcaller" in dangerous.message and dangerous.malicious


def test_hundred_thousand_entry_safetensors_header_is_refused_in_bounded_time(tmp_path: Path):
    path = hostile.safetensors_many_entries(tmp_path / "many.safetensors", 100_000)
    started = time.perf_counter()
    report = scan_file(path, max_bytes=MAX_BYTES)
    elapsed = time.perf_counter() - started
    assert [reason.code for reason in report.reasons] == ["safetensors_too_many_entries"]
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    started = time.perf_counter()
    with pytest.raises(UserError, match="more than"):
        load_state_dict(path)
    assert time.perf_counter() - started < 2.0


def test_object_array_is_refused_by_numpy_itself_when_the_scan_is_skipped(tmp_path: Path, canary: Path):
    """load_dataset keeps allow_pickle=False: even np.load alone never unpickles the payload."""
    path = hostile.npz_object_array(tmp_path / "data.npz", canary)
    with np.load(path, allow_pickle=False) as archive, pytest.raises(ValueError, match="allow_pickle"):
        archive["x"]
    assert not canary.exists()
