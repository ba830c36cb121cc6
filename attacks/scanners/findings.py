"""Every reason a file can be refused, with the message the user sees.

The codes are part of the scan document's schema (riskapp.scan/1, see docs/engine.md):
add new codes freely, never rename or reuse one. Messages say what is wrong and how to
export a supported format instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAVE_WEIGHTS = (
    "Save only the weights: `safetensors.torch.save_file(model.state_dict(), 'model.safetensors')` "
    "or `torch.save(model.state_dict(), 'model.pt')`."
)
EXPORT_ANY = (
    "Supported model files: safetensors weights, a PyTorch state_dict checkpoint "
    "(`torch.save(model.state_dict(), 'model.pt')`), or a single-file ONNX model "
    "(`torch.onnx.export(model, example, 'model.onnx', external_data=False)`)."
)
RESAVE = (
    " Save the file again directly with `torch.save(model.state_dict(), ...)` or `numpy.savez(...)`, "
    "without editing or repacking the archive."
)
SAVE_SAFETENSORS = (
    " Save the weights again with `safetensors.torch.save_file(model.state_dict(), 'model.safetensors')`."
)
SAVE_DATASET = "Save the evaluation data with `numpy.savez('data.npz', x=x.astype('float32'), y=y.astype('int64'))`."
IMAGE_FOLDER = (
    "Upload a zip with one folder per class and the images directly inside (e.g. `cats/001.jpg`, "
    "`dogs/002.png`), optionally all under one top folder; images must be JPEG, PNG or WebP."
)

MESSAGES: dict[str, str] = {
    # The file as a whole.
    "empty_file": "The file is empty. " + EXPORT_ANY,
    "too_large": "The file is {size} bytes, over the {limit}-byte limit. Upload a smaller file or ask an admin.",
    "unknown_format": "This file is not a format riskapp accepts (its first bytes match none). " + EXPORT_ANY,
    "wrong_kind": "This file is a {found} ({format}) but a {expected} was expected here. {advice}",
    # Formats recognised and refused.
    "pickle": "This file is a raw Python pickle, which can run code when loaded. " + SAVE_WEIGHTS,
    "legacy_torch": (
        "This is a legacy (pre-1.6, non-zip) torch.save file, which cannot be loaded safely. "
        "Load it where you trust it, with a current PyTorch, and re-save it. " + SAVE_WEIGHTS
    ),
    "torchscript": (
        "This is a TorchScript archive (torch.jit.save), which is code and has no safe loader. " + SAVE_WEIGHTS
    ),
    "keras_h5": (
        "This is an HDF5 / Keras .h5 file. Keras files are not accepted (their safe mode has been bypassed "
        "repeatedly). Export the model to ONNX (e.g. with tf2onnx) as a single file without external data."
    ),
    "keras": (
        "This is a Keras v3 (.keras) archive. Keras files are not accepted. Export the model to ONNX "
        "(e.g. with tf2onnx) as a single file without external data."
    ),
    "npy": "This is a single NumPy .npy array. " + SAVE_DATASET,
    # Hugging Face model folders (attacks/huggingface.py); the detail says what to change.
    "hf_folder_layout": "This Hugging Face model folder cannot be taken in: {detail}",
    "hf_config": "This Hugging Face model folder's config.json cannot be used: {detail}",
    "unsupported_zip": (
        "This zip archive is neither a PyTorch state_dict checkpoint, a .npz dataset nor an image folder. "
        + EXPORT_ANY
        + " Datasets: an .npz with arrays x and y, or a zip of image folders. "
        + IMAGE_FOLDER
    ),
    # Zip containers (.pt checkpoints and .npz datasets are zips).
    "zip_corrupt": "The zip archive is damaged and cannot be read ({detail})." + RESAVE,
    "zip_too_many_members": "The zip archive has {count} members, over the limit of {limit}." + RESAVE,
    "zip_too_large": "The zip archive declares {size} bytes once unpacked, over the {limit}-byte limit." + RESAVE,
    "zip_unsafe_path": "The zip member name {member!r} is an absolute path or climbs out of the archive ('..')."
    + RESAVE,
    "zip_duplicate_member": "The zip archive holds {member!r} more than once (names compared ignoring case)." + RESAVE,
    "zip_nested_archive": "The zip member {member!r} is itself an archive; nested archives are not accepted." + RESAVE,
    "zip_bad_crc": "The zip member {member!r} fails its checksum (CRC): the file is damaged or was altered." + RESAVE,
    "zip_encrypted": "The zip member {member!r} is encrypted; upload an unencrypted file." + RESAVE,
    "zip_unsupported_compression": (
        "The zip member {member!r} uses an unsupported compression method; only stored and deflated are accepted."
        + RESAVE
    ),
    "zip_overlapping_members": "Zip members overlap each other in the file (a zip-bomb technique)." + RESAVE,
    # PyTorch zip checkpoints.
    "torch_unexpected_member": (
        "The checkpoint contains {member!r}, which a torch.save(state_dict) file never has. " + SAVE_WEIGHTS
    ),
    "pickle_dangerous_global": (
        "The pickle {member!r} imports {globals}, which can run commands or code when loaded. "
        "This file is malicious or was built to look malicious; it was not loaded."
    ),
    "pickle_whole_module": (
        "This file is a pickled full module (it references the classes {globals}); whole models are not "
        "accepted because loading them runs code. " + SAVE_WEIGHTS
    ),
    "pickle_unexpected_global": (
        "The checkpoint references Python objects other than tensors ({globals}); only a flat "
        "state_dict of tensors is accepted. " + SAVE_WEIGHTS
    ),
    "pickle_scan_error": (
        "The pickle {member!r} could not be fully parsed ({detail}), so it cannot be vetted. " + SAVE_WEIGHTS
    ),
    "pickle_not_scanned": "No pickle in the checkpoint could be scanned, so it cannot be vetted. " + SAVE_WEIGHTS,
    # safetensors.
    "safetensors_header_length": (
        "The safetensors header length ({length} bytes) is zero, over {limit} bytes, or runs past the end of "
        "the {size}-byte file." + SAVE_SAFETENSORS
    ),
    "safetensors_header_json": "The safetensors header is not a valid JSON object ({detail})." + SAVE_SAFETENSORS,
    "safetensors_too_many_entries": "The safetensors header lists more than {limit} tensors." + SAVE_SAFETENSORS,
    "safetensors_bad_entry": "The safetensors entry {member!r} is malformed ({detail})." + SAVE_SAFETENSORS,
    "safetensors_bad_dtype": "The safetensors entry {member!r} has the unknown or unsupported dtype {dtype!r}."
    + SAVE_SAFETENSORS,
    "safetensors_offsets_out_of_bounds": (
        "The safetensors entry {member!r} points at bytes {begin}..{end}, outside the {data_size}-byte data section."
        + SAVE_SAFETENSORS
    ),
    "safetensors_offsets_overlap": "The safetensors entries {member!r} and {other!r} share bytes." + SAVE_SAFETENSORS,
    "safetensors_size_mismatch": (
        "The safetensors entry {member!r} has shape {shape} of {dtype} ({expected} bytes) but spans {actual} bytes."
        + SAVE_SAFETENSORS
    ),
    "safetensors_incomplete": (
        "The safetensors data section has {unused} bytes no tensor uses (holes or trailing data)." + SAVE_SAFETENSORS
    ),
    # ONNX.
    "onnx_parse_error": (
        "The file could not be parsed as ONNX ({detail}). Export a single file with "
        "`torch.onnx.export(model, example, 'model.onnx', external_data=False)`."
    ),
    "onnx_external_data": (
        "The ONNX tensor {member!r} keeps its data in an external file ({location!r}); only single-file models "
        "are accepted. Export with `external_data=False` or `onnx.save_model(model, path, "
        "save_as_external_data=False)`."
    ),
    "onnx_custom_domain": (
        "The ONNX model uses the non-standard operator domain {domain!r}{where}; only the standard domains "
        "('', 'ai.onnx', 'ai.onnx.ml') are accepted, because custom operators are native code. Export with "
        "standard operators only."
    ),
    "onnx_invalid": "The ONNX model fails the ONNX checker ({detail}). Export it again with a current exporter.",
    # .npz datasets.
    "npz_missing_member": "The dataset has no {member!r} array. " + SAVE_DATASET,
    "npz_unexpected_member": (
        "The dataset contains {member!r}; only arrays named x, y and optionally poison_mask are accepted. "
        + SAVE_DATASET
    ),
    "npz_bad_header": "The array {member!r} has an unreadable .npy header ({detail}). " + SAVE_DATASET,
    "npz_object_array": (
        "The array {member!r} has an object dtype, which is stored as a pickle and can run code. "
        "Convert it to a numeric array before saving. " + SAVE_DATASET
    ),
    "npz_bad_array": "The array {member!r} {detail}. " + SAVE_DATASET,
    # Image-folder datasets (a zip of class folders).
    "image_folder_not_image": (
        "The member {member!r} is not a JPEG, PNG or WebP image (by its name); remove it from the zip. " + IMAGE_FOLDER
    ),
    "image_folder_bad_magic": (
        "The member {member!r} is named like an image but its bytes are not a JPEG, PNG or WebP image; "
        "remove it or save it again as one of those formats. " + IMAGE_FOLDER
    ),
    "image_folder_loose_file": (
        "The image {member!r} is not inside a class folder; move it into the folder of its class. " + IMAGE_FOLDER
    ),
    "image_folder_too_deep": (
        "The image {member!r} is nested deeper than class-folder/file; move it up into its class folder "
        "(sub-folders inside a class are not read). " + IMAGE_FOLDER
    ),
    "image_folder_empty_class": (
        "The class folder {member!r} holds no image; add its images or remove the folder. " + IMAGE_FOLDER
    ),
    "image_folder_too_few_classes": (
        "The image folder has {count} class folder(s); an evaluation set needs at least 2. " + IMAGE_FOLDER
    ),
    "image_folder_too_many_images": (
        "The image folder holds {count} images, over the limit of {limit}; upload a smaller sample of each class."
    ),
}

# Codes that mean "someone built this file to attack us", not "this file is unsupported".
MALICIOUS_CODES = frozenset({"pickle_dangerous_global"})


@dataclass(frozen=True)
class Finding:
    """One reason a file was refused. `message` is shown to the user as is."""

    code: str
    message: str
    member: str | None = None
    malicious: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "member": self.member, "malicious": self.malicious}


def finding(code: str, *, member: str | None = None, **fields: Any) -> Finding:
    """A Finding with the catalogued message for `code`, filled from `member` and `fields`."""
    message = MESSAGES[code].format(member=member, **fields)
    return Finding(code=code, message=message, member=member, malicious=code in MALICIOUS_CODES)
