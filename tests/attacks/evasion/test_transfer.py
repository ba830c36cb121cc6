"""Transfer from the CNN (teacher) to an MLP (student), PyTorch and ONNX."""

from __future__ import annotations

import pytest

from attacks.context import UserError
from attacks.evasion import transfer_attack
from attacks.evasion.attacks import Settings
from attacks.loading import load_model
from tests.attacks.evasion.conftest import digits_target


def test_transfer_numbers(cnn, student_path, digits, ctx):
    student = digits_target(load_model(student_path, "mlp-digits", 10))
    x, y = digits.x_test[:120], digits.y_test[:120]
    result = transfer_attack(cnn, student, x, y, Settings(eps=0.2, steps=10, batch_size=120), ctx)
    transfer = result["transfer_success_rate"]
    assert 0 < transfer <= 1
    assert result["teacher_success_on_crafted"] >= transfer  # crafted on the teacher: it is fooled most
    assert result["white_box_teacher"]["attack_success_rate"] > 0.5
    assert result["white_box_student"]["attack_success_rate"] >= transfer - 0.05


def test_transfer_needs_a_gradient_attack(cnn, digits, ctx):
    with pytest.raises(UserError, match="transfer attack"):
        transfer_attack(cnn, cnn, digits.x_test[:4], digits.y_test[:4], Settings(eps=0.1), ctx, attack="square")
