"""Fixtures shared by several test files."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread, restored afterwards: small float64 loss comparisons are faster and their
    reductions run in one fixed order (modules opt in with `pytestmark = pytest.mark.usefixtures`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
