from tests.attacks.conftest import canary, digits, handmade_onnx, trained_cnn  # noqa: F401
