from tests.attacks.backdoor.conftest import demo, paths  # noqa: F401
from tests.attacks.conftest import digits, trained_cnn  # noqa: F401
