from tests.attacks.backdoor.conftest import demo, paths  # noqa: F401 - the demo models, built once per session
