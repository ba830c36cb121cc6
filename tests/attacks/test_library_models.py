"""timm, torchvision and Hugging Face models: the catalogue, pre-processing inside the model, the command line.

The models are tiny ones the tests make and save as the libraries save them (tests/library_models.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from attacks import library
from attacks.architectures import architecture, build, penultimate_features, search
from attacks.cli import main
from attacks.context import RunContext, UserError
from attacks.loading import load_network
from attacks.networks import Preprocessed
from attacks.preprocess import resolve
from attacks.scan import scan_file
from tests import library_models as made
from tests.attacks import hostile

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A timm student, a torchvision student, a Hugging Face folder zip and an image-folder zip."""
    folder = tmp_path_factory.mktemp("library")
    made.huggingface_folder(folder / "vit")
    return {
        "timm": made.timm_student(folder / "timm.safetensors"),
        "torchvision": made.torchvision_student(folder / "torchvision.safetensors", steps=3),
        "hf": made.zip_folder(folder / "vit", folder / "vit.zip", top="my-vit/"),
        "hf_folder": folder / "vit",
        "images": made.image_folder_zip(folder / "images.zip", count_per_class=5),
    }


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the catalogue ----------------------------------------------------------------------------


def _without_counts(document: dict) -> dict:
    return {
        **document,
        "architectures": [{**entry, "parameters": None} for entry in document["architectures"]],
    }


def test_the_committed_index_is_what_the_installed_libraries_say():
    """Fails after a timm / torchvision / transformers pin change until `python -m attacks.library --write` ran."""
    committed = library.index()
    assert _without_counts(library.generate(count_parameters=False)) == _without_counts(committed)
    assert sum(entry["source"] == "timm" for entry in committed["architectures"]) > 1000
    assert sum(entry["source"] == "torchvision" for entry in committed["architectures"]) > 50
    assert "vit" in committed["huggingface_image_classification"]


@pytest.mark.parametrize("name", ["timm/resnet18", "timm/vit_tiny_patch16_224", "torchvision/mobilenet_v3_small"])
def test_index_parameter_counts_are_those_of_the_built_network(name: str):
    entry = architecture(name)
    with torch.device("meta"):
        model = build(name, entry.num_classes)
    assert entry.parameters == sum(p.numel() for p in model.parameters())


def test_library_defaults_come_from_the_libraries_own_configs():
    timm_resnet = architecture("timm/resnet50")
    assert timm_resnet.input_shape == (3, 224, 224) and timm_resnet.num_classes == 1000
    assert timm_resnet.preprocessing == {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bicubic",
        "crop_pct": 0.95,
    }
    vision = architecture("torchvision/resnet18").preprocessing
    assert vision["interpolation"] == "bilinear" and vision["crop_pct"] == pytest.approx(224 / 256)
    assert architecture("torchvision/inception_v3").input_shape == (3, 299, 299)
    assert architecture("timm/vit_small_patch16_224").fixed_input_size
    assert not architecture("timm/resnet50").fixed_input_size


def test_search_puts_the_exact_name_first_and_needs_every_word():
    assert [entry["name"] for entry in search("resnet50", limit=2)] == ["timm/resnet50", "torchvision/resnet50"]
    found = [entry["name"] for entry in search("vit small 224")]
    assert found and all("vit" in n and "small" in n and "224" in n for n in found)
    assert search("resnet", source="torchvision") and all(
        entry["source"] == "torchvision" for entry in search("resnet", source="torchvision")
    )
    assert search("no-such-network") == []


def test_listing_searching_and_checking_cards_never_import_torch():
    """The web process offers the catalogue; torch stays out of it."""
    code = (
        "import sys\n"
        "from attacks.architectures import catalogue, search, architecture, is_known, closest\n"
        "from attacks.preprocess import problems\n"
        "assert len(catalogue()) > 1400 and search('resnet') and is_known('huggingface/vit')\n"
        "problems({'mean': [0.5]}, architecture('timm/resnet50')); closest('timm/resnet5000')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_architectures_command_searches_with_a_filter(capsys):
    code, out, _ = run_cli(capsys, "architectures", "--search", "resnet", "--json")
    names = [entry["name"] for entry in json.loads(out)]
    assert code == 0 and names[0] == "resnet18-cifar" and "timm/resnet50" in names and "torchvision/resnet18" in names
    assert all("resnet" in name for name in names)
    code, out, _ = run_cli(capsys, "architectures", "--search", "convnext tiny", "--source", "timm", "--limit", "3")
    assert code == 0 and out.splitlines()[1].startswith("timm/convnext_tiny") and len(out.splitlines()) == 4
    code, _, err = run_cli(capsys, "architectures", "--search", "no-such-network")
    assert code == 1 and "No architecture matches" in err


# --- building with another class count --------------------------------------------------------


@pytest.mark.parametrize("name", ["timm/test_resnet", "torchvision/squeezenet1_1"])
def test_a_fine_tuned_head_loads_and_a_wrong_class_count_lists_every_wrong_tensor(tmp_path: Path, name: str):
    model = build(name, 7)
    made.save_state_dict(model, tmp_path / "seven.safetensors")
    loaded = load_network(tmp_path / "seven.safetensors", name, 7)
    assert loaded.model(torch.rand(2, 3, 64, 64)).shape == (2, 7)
    with pytest.raises(UserError) as error:
        load_network(tmp_path / "seven.safetensors", name, 5)
    wrong = [line for line in str(error.value).splitlines() if "shape mismatch" in line]
    head = {"timm/test_resnet": "fc", "torchvision/squeezenet1_1": "classifier.1"}[name]
    assert {f"'{head}.weight'", f"'{head}.bias'"} <= {line.split("for ")[1].split(":")[0] for line in wrong}
    assert "set the number of classes to 7" in str(error.value) or name.startswith("torchvision/squeezenet")


# --- pre-processing inside the model ----------------------------------------------------------


def test_the_attacked_model_is_normalise_then_network_on_pixel_inputs(files):
    loaded = load_network(files["timm"], "timm/test_resnet", 3)
    assert isinstance(loaded.model, Preprocessed)
    assert loaded.preprocessing.as_dict()["mean"] == [0.5, 0.5, 0.5] and loaded.preprocessing.source == "timm"
    assert loaded.data_shape == (3, None, None)
    x = torch.rand(4, 3, 160, 160)
    with torch.inference_mode():
        assert torch.allclose(loaded.model(x), loaded.model.network((x - 0.5) / 0.5), atol=1e-5)


def test_an_image_of_another_size_is_resized_and_cropped_inside_the_model_with_gradients(files):
    loaded = load_network(files["timm"], "timm/test_resnet", 3, {"input_size": [3, 64, 64], "crop_pct": 0.8})
    x = torch.rand(2, 3, 100, 120, requires_grad=True)
    inside = torch.nn.functional.interpolate(x, size=(80, 96), mode="bilinear", antialias=True)[..., 8:72, 16:80]
    expected = loaded.model.network((inside - 0.5) / 0.5)
    assert torch.allclose(loaded.model(x), expected, atol=1e-5)
    loaded.model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # ε lives in the input image's pixels


def test_penultimate_features_go_through_the_preprocessing(files):
    loaded = load_network(files["timm"], "timm/test_resnet", 3)
    x = torch.rand(2, 3, 160, 160)
    network = loaded.model.network
    with torch.inference_mode():
        features = penultimate_features(loaded.model, x)
        direct = network.forward_head(network.forward_features((x - 0.5) / 0.5), pre_logits=True)
    assert features.shape == (2, network.num_features) and torch.allclose(features, direct)


def test_the_card_overrides_the_library_defaults_and_contradictions_are_refused():
    entry = architecture("timm/resnet50")
    processing = resolve(entry, {"mean": [0.5], "std": [0.25], "interpolation": "bilinear"})
    assert (processing.mean, processing.std, processing.interpolation) == ((0.5,), (0.25,), "bilinear")
    assert processing.crop_pct == 0.95 and processing.source == "card"
    refused = {
        "mean has 2 values for a 3-channel input": {"mean": [0.5, 0.5], "std": [0.2, 0.2]},
        "std values must be above 0": {"mean": [0.5], "std": [0]},
        "unknown keys colour": {"colour": "rgb"},
        "is not an image size": {"input_size": [3, 2, 2]},
        "interpolation must be one of": {"interpolation": "lanczos"},
    }
    for message, card in refused.items():
        with pytest.raises(UserError, match=message):
            resolve(entry, card)
    with pytest.raises(UserError, match="takes exactly 3×224×224 images"):
        resolve(architecture("timm/vit_small_patch16_224"), {"input_size": [3, 256, 256]})
    # A library network is built for its default channel count: a card with other channels is refused up front.
    with pytest.raises(UserError, match="has 1 channel.*timm/resnet50 is built for 3-channel images"):
        resolve(entry, {"input_size": [1, 224, 224], "mean": [0.5], "std": [0.5]})
    with pytest.raises(UserError, match="contradicts cnn-digits, which takes 1×8×8"):
        resolve(architecture("cnn-digits"), {"input_size": [3, 8, 8]})
    assert resolve(architecture("timm/resnet50"), {"input_size": [3, 288, 288]}).input_shape == (3, 288, 288)


def test_a_card_on_one_of_the_projects_own_networks_is_applied_too(trained_cnn):
    plain = load_network(trained_cnn["pt"], "cnn-digits", 10)
    scaled = load_network(trained_cnn["pt"], "cnn-digits", 10, {"scale": 2.0})
    assert not isinstance(plain.model, Preprocessed) and plain.preprocessing.source == "none"
    x = torch.rand(3, 1, 8, 8)
    with torch.inference_mode():
        assert torch.allclose(scaled.model(x), plain.model(2 * x), atol=1e-5)


def test_intake_refuses_a_card_whose_size_the_network_cannot_take(tmp_path: Path):
    from attacks import intake

    vit = build("timm/test_vit", 3)
    made.save_state_dict(vit, tmp_path / "vit.safetensors")
    ctx = RunContext(output_dir=tmp_path, on_progress=lambda *_: None)
    result = intake.run(ctx, {"path": str(tmp_path / "vit.safetensors"), "arch": "timm/test_vit", "num_classes": 3})
    assert result["preprocessing"]["input_size"] == [3, 160, 160] and result["forward_finite"]
    with pytest.raises(UserError, match="takes exactly 3×160×160"):
        intake.run(
            ctx,
            {
                "path": str(tmp_path / "vit.safetensors"),
                "arch": "timm/test_vit",
                "num_classes": 3,
                "preprocessing": {"input_size": [3, 96, 96]},
            },
        )


# --- Hugging Face folders ---------------------------------------------------------------------


def test_a_hugging_face_folder_zip_is_scanned_taken_in_and_loaded_with_its_processor(tmp_path: Path, files):
    from attacks import intake

    report = scan_file(files["hf"], max_bytes=10**9, expect="model")
    assert report.accepted and report.format == "hf_folder"
    ctx = RunContext(output_dir=tmp_path, on_progress=lambda *_: None)
    result = intake.run(ctx, {"path": str(files["hf"])})
    assert (result["arch"], result["num_classes"], result["class_names"]) == ("huggingface/vit", 3, list(made.CLASSES))
    assert result["preprocessing"]["input_size"] == [3, 32, 32] and result["preprocessing"]["mean"] == [0.5] * 3
    assert result["output"] == "model.zip" and result["forward_finite"]
    normalised = tmp_path / "model.zip"
    assert sorted(zipfile.ZipFile(normalised).namelist()) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    loaded = load_network(normalised, "huggingface/vit", 3)
    from transformers import ViTForImageClassification

    reference = ViTForImageClassification.from_pretrained(files["hf_folder"]).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(loaded.model(x), reference(pixel_values=(x - 0.5) / 0.5).logits, atol=1e-5)
    assert loaded.arch == "huggingface/vit" and loaded.preprocessing.source == "huggingface"
    with pytest.raises(UserError, match="has 1 channel.*config.json builds a 3-channel model"):
        load_network(normalised, "huggingface/vit", 3, {"input_size": [1, 32, 32], "mean": [0.5], "std": [0.5]})


def _hf_zip(files, tmp_path: Path, name: str, extra=None, config=None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file in files["hf_folder"].iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    if config is not None:
        document = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**document, **config}))
    return made.zip_folder(folder, tmp_path / f"{name}.zip", extra=extra)


def test_hugging_face_folders_that_would_run_code_or_unpickle_are_refused(tmp_path: Path, files, canary: Path):
    cases = {
        "code": (dict(extra={"modeling_vit.py": b"import os\n"}), "hf_folder_layout", "never runs a model's own code"),
        "remote": (dict(config={"auto_map": {"AutoModel": "x.Net"}}), "hf_config", "never runs remote code"),
        "type": (dict(config={"model_type": "bert"}), "hf_config", "not an image-classification architecture"),
    }
    for name, (change, code, message) in cases.items():
        report = scan_file(_hf_zip(files, tmp_path, name, **change), max_bytes=10**9, expect="model")
        assert not report.accepted and report.reasons[0].code == code and message in report.reasons[0].message
    payload = hostile.system_pickle(tmp_path / "payload.pkl", canary).read_bytes()
    report = scan_file(
        _hf_zip(files, tmp_path, "bin", extra={"pytorch_model.bin": payload}), max_bytes=10**9, expect="model"
    )
    assert not report.accepted and report.malicious and not canary.exists()


def test_a_hugging_face_folder_with_the_wrong_class_count_says_so(tmp_path: Path, files):
    from attacks.huggingface import load_folder

    with pytest.raises(UserError, match="config.json gives 3 labels but the card says 5"):
        load_folder(files["hf"], num_classes=5)
    wrong = _hf_zip(files, tmp_path, "labels", config={"id2label": {str(i): str(i) for i in range(5)}})
    with pytest.raises(UserError) as error:
        load_folder(wrong)
    assert "shape mismatch for 'classifier.weight'" in str(error.value)
    assert "shape mismatch for 'classifier.bias'" in str(error.value)


# --- the command line, end to end -------------------------------------------------------------


def test_evaluate_attacks_a_timm_student_on_an_image_folder_zip(capsys, files):
    argv = ["evaluate", "--model", str(files["timm"]), "--arch", "timm/test_resnet", "--classes", "3"]
    code, out, err = run_cli(capsys, *argv, "--data", str(files["images"]), "--eps", "0.3", "--steps", "5", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == "riskapp.evasion/1" and document["data"]["samples"] == 15
    assert document["model"]["preprocessing"]["input_size"] == [3, 160, 160]
    assert document["model"]["preprocessing"]["source"] == "timm"
    attack = document["attacks"][0]
    assert attack["clean_accuracy"] == 1.0  # the colour classes are easy
    assert attack["robust_accuracy"] < attack["clean_accuracy"]  # an ε of 0.3 in pixel space breaks it


def test_validate_and_backdoor_scan_take_a_hugging_face_folder_and_a_torchvision_network(capsys, tmp_path, files):
    code, out, err = run_cli(
        capsys,
        "validate",
        "--model",
        str(files["hf"]),
        "--arch",
        "huggingface",
        "--data",
        str(files["images"]),
        "--json",
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["arch"] == "huggingface/vit" and document["accuracy"] >= 0.9
    assert document["preprocessing"]["input_size"] == [3, 32, 32]
    argv = ["backdoor-scan", "--model", str(files["torchvision"]), "--arch", "torchvision/squeezenet1_1"]
    argv += ["--classes", "3", "--data", str(files["images"]), "--steps", "2", "--limit", "9", "--json"]
    argv += ["--preprocessing", '{"input_size": [3, 64, 64]}', "--output", str(tmp_path)]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == "riskapp.backdoor-scan/1" and len(document["classes"]) == 3
    assert document["preprocessing"]["input_size"] == [3, 64, 64] and document["preprocessing"]["source"] == "card"


def test_scan_accepts_a_hugging_face_folder_and_an_image_folder(capsys, files):
    code, out, _ = run_cli(capsys, "scan", str(files["hf"]), "--expect", "model")
    assert code == 0 and "accepted: hf_folder" in out
    code, out, _ = run_cli(capsys, "scan", str(files["images"]), "--expect", "dataset")
    assert code == 0 and "accepted: image_folder" in out


def test_image_folder_data_is_decoded_at_the_models_input_size(files):
    from attacks.loading import load_dataset
    from attacks.preprocess import image_transform_for

    loaded = load_network(files["timm"], "timm/test_resnet", 3)
    x, y, _ = load_dataset(
        files["images"], expect_shape=loaded.data_shape, image_transform=image_transform_for(loaded.preprocessing)
    )
    assert x.shape == (15, 3, 160, 160) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert np.bincount(y).tolist() == [5, 5, 5]


def test_a_hugging_face_folders_labels_decide_which_image_folder_is_which_class(tmp_path: Path, files):
    """id2label in another order than the folders' alphabetical one: each folder gets the label config.json names."""
    names = list(made.CLASSES)  # the folders, in alphabetical order
    reordered = {"id2label": {str(i): name for i, name in enumerate(reversed(names))}}
    reordered["label2id"] = {name: i for i, name in reordered["id2label"].items()}
    loaded = load_network(_hf_zip(files, tmp_path, "reordered", config=reordered), "huggingface/vit", 3)
    assert loaded.class_names == tuple(reversed(names))
    x, y, _ = loaded.load_dataset(files["images"])
    # made.colour_images: each class has its own dominant colour channel; the label follows the name, not the order.
    for label, name in enumerate(reversed(names)):
        channel = made.CHANNEL[name]
        assert (x[y == label].mean(axis=(0, 2, 3)).argmax()) == channel


def test_the_command_line_names_the_images_it_skipped(tmp_path: Path, files, capsys):
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(files["images"]) as source, zipfile.ZipFile(broken, "w") as target:
        for member in source.namelist():
            data = source.read(member)
            target.writestr(member, data[: len(data) // 3] if member == source.namelist()[0] else data)
    first = zipfile.ZipFile(files["images"]).namelist()[0]
    code, out, _ = run_cli(
        capsys, "validate", "--model", str(files["timm"]), "--arch", "timm/test_resnet", "--classes", "3",
        "--data", str(broken), "--json",
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    assert [entry["file"] for entry in document["skipped"]] == [first] and document["dataset_samples"] == 14
    code, out, _ = run_cli(
        capsys, "evaluate", "--model", str(files["timm"]), "--arch", "timm/test_resnet", "--classes", "3",
        "--data", str(broken), "--attack", "fgsm", "--eps", "0.01", "--limit", "4", "--json",
    )  # fmt: skip
    assert code == 0 and [entry["file"] for entry in json.loads(out)["data"]["skipped"]] == [first]
    # A set with nothing skipped keeps its documents as they were.
    code, out, _ = run_cli(
        capsys, "validate", "--model", str(files["timm"]), "--arch", "timm/test_resnet", "--classes", "3",
        "--data", str(files["images"]), "--json",
    )  # fmt: skip
    assert code == 0 and "skipped" not in json.loads(out)
