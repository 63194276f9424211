"""pytest fixtures for the lab, shared by tests/conftest.py and by ``pytest -p routerguard.lab.fixtures``.

``lab``: a fresh two-client lab per test. ``lab_factory(clients=N)``: as
many labs as a test wants. Every lab is torn down after the test, passed
or failed.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator

import pytest

from .topology import Lab


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Lab]]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (it creates network namespaces)")
    labs: list[Lab] = []

    def make(clients: int = 2) -> Lab:
        lab = Lab(clients)
        labs.append(lab)
        return lab.start()

    yield make
    errors = []
    for lab in reversed(labs):
        try:
            lab.close()
        except Exception as e:  # close the others all the same
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory()
