"""The demo's timm pair: saved as timm's users save it, the student fine-tuned from the teacher's head only."""

import pytest
import torch
from safetensors.torch import load_file

from attacks.demo_library import ARCH, CLASSES, build_library_pair
from attacks.loading import load_dataset


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return build_library_pair(tmp_path_factory.mktemp("library-pair"))


def test_the_pair_loads_strictly_into_timm_resnet10t_and_classifies_the_demo_images(pair):
    import timm

    assert ARCH == "timm/resnet10t" and pair["preprocessing"]["input_size"] == [3, 32, 32]
    for name in ("library_teacher", "library_student"):
        model = timm.create_model("resnet10t", pretrained=False, num_classes=len(CLASSES))
        model.load_state_dict(load_file(pair["paths"][name]), strict=True)  # timm's own key names
    assert min(pair["clean_accuracy"].values()) >= 0.9
    x, y = load_dataset(pair["paths"]["library_test"])[:2]
    assert x.shape[1:] == (3, 32, 32) and x.min() >= 0 and x.max() <= 1 and set(y.tolist()) == {0, 1, 2}


def test_the_student_shares_every_weight_with_its_teacher_but_the_classifier(pair):
    teacher = load_file(pair["paths"]["library_teacher"])
    student = load_file(pair["paths"]["library_student"])
    changed = {name for name in teacher if not torch.equal(teacher[name], student[name])}
    assert changed == {"fc.weight", "fc.bias"}
