import os
import pathlib

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BUILD", TOP / "build"))


@pytest.fixture
def chatstack():
    """Path of the built chatstack binary."""
    path = BUILD / "chatstack"
    if not path.exists():
        pytest.fail(f"{path} is not built; run make first")
    return str(path)
