"""Fixtures of the evaluation tests."""

import pytest

from utils.builders import save_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, processor):
    return save_tiny_model(tmp_path_factory.mktemp("tiny"), processor)

