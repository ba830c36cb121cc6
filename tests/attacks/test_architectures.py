"""The architecture catalogue: data-driven entries that build, count parameters and expose penultimate features."""

from __future__ import annotations

import pytest
import torch
import yaml

from attacks import architectures
from attacks.architectures import CATALOGUE_DIR, build, catalogue, penultimate_features
from attacks.context import UserError

OWN = {"mlp-digits": 128, "cnn-digits": 128, "cnn-mnist": 128, "resnet18-cifar": 512}


def test_catalogue_lists_the_projects_architectures_with_shapes_and_parameter_counts():
    entries = {entry["name"]: entry for entry in catalogue()}
    assert set(OWN) <= set(entries)
    assert entries["cnn-digits"]["input_shape"] == [1, 8, 8]
    assert entries["cnn-mnist"]["input_shape"] == [1, 28, 28]
    assert entries["resnet18-cifar"]["input_shape"] == [3, 32, 32]
    assert entries["cnn-digits"]["parameters"] == 151_306  # the 2-conv + 2-fc digits CNN of the ART notes
    assert 11_000_000 < entries["resnet18-cifar"]["parameters"] < 11_300_000
    for name in OWN:
        entry = entries[name]
        assert entry["parameters"] == sum(p.numel() for p in build(name, entry["num_classes"]).parameters())
        assert entry["description"] and entry["num_classes"] == 10
        assert entry["source"] == "riskapp" and entry["preprocessing"] == {}


@pytest.mark.parametrize("name", list(OWN))
def test_every_architecture_builds_runs_and_exposes_penultimate_features(name: str):
    torch.manual_seed(0)
    model = build(name, 7).eval()
    entry = architectures.architecture(name)
    x = torch.rand(2, *entry.input_shape)
    with torch.inference_mode():
        features = model.forward_features(x)
        assert model(x).shape == (2, 7)
        assert features.shape == (2, OWN[name]) == (2, model.feature_dim)
        assert torch.allclose(model.classifier(features), model(x))
        assert torch.equal(penultimate_features(model, x), features)
    assert list(model.children())[-1] is model.classifier  # registered last: "last layer" readers see the logits


def test_unknown_architecture_error_names_the_closest_known_ones():
    with pytest.raises(UserError, match="Unknown architecture 'resnet-9000'") as error:
        build("resnet-9000", 10)
    assert "resnet18-cifar" in str(error.value) and "--search" in str(error.value)
    with pytest.raises(UserError) as error:
        build("timm/resnet5000", 10)
    assert "timm/resnet50," in str(error.value)


@pytest.mark.parametrize("classes", [0, 1, -3, 10**6, 2.5, True])
def test_number_of_classes_must_be_sensible(classes):
    with pytest.raises(UserError, match="number of classes"):
        build("mlp-digits", classes)


def test_catalogue_data_file_passes_its_schema_and_names_real_builders():
    import json

    import jsonschema

    from attacks.networks import BUILDERS

    document = yaml.safe_load((CATALOGUE_DIR / "architectures.yaml").read_text())
    schema = json.loads((CATALOGUE_DIR / "architectures.schema.json").read_text())
    jsonschema.validate(document, schema)
    # The schema's list of builders is what the catalogue reader trusts without importing the networks.
    builders = schema["properties"]["architectures"]["items"]["properties"]["builder"]["enum"]
    assert set(builders) == set(BUILDERS)


def test_penultimate_features_of_a_network_without_forward_features_come_from_its_last_linear_layer():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    x = torch.rand(5, 4)
    assert torch.allclose(penultimate_features(net, x), net[2](net[1](x)))
    assert not net[3]._forward_hooks  # the hook is removed again


def test_a_convolutional_classifiers_penultimate_features_are_its_input_averaged_over_space():
    """torchvision's SqueezeNet ends in a 1×1 convolution to the classes, not a linear layer."""
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    net = torch.nn.Sequential(body, torch.nn.Conv2d(8, 4, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = torch.rand(2, 3, 10, 10)
    features = penultimate_features(net, x)
    assert features.shape == (2, 8) and torch.allclose(features, body(x).mean(dim=(2, 3)))
    with pytest.raises(UserError, match="no final linear or convolutional layer"):
        penultimate_features(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.ReLU()), x)
