from pathlib import Path

import pytest

from tests.attacks.backdoor.conftest import demo, paths  # noqa: F401 - the demo models, built once per session


@pytest.fixture(scope="session")
def demo_folder(request) -> Path:
    """The whole demo built once: the digits models and data, and the timm pair beside them."""
    from attacks.demo_library import build_library_pair

    folder = Path(request.getfixturevalue("paths")["teacher"]).parent
    build_library_pair(folder)
    return folder
