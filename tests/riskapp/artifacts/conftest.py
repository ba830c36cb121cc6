"""Engine fixtures reused by the web intake tests: a trained digits CNN in every format, and the canary."""

from tests.attacks.conftest import canary, digits, handmade_onnx, trained_cnn  # noqa: F401
