from tests.attacks.conftest import digits, trained_cnn  # noqa: F401
