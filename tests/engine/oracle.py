"""What every PyTorch oracle file shares: torch itself (the file is skipped without it), float64
tensors from stepper's arrays, and the comparison at 1e-12.

The oracle files run in an environment that has torch but neither textual nor rich (see .ci/run):
nothing here may import them.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = ATOL = 1e-12  # float64 on both sides; only summation order differs


def t(a):
    """A float64 tensor of ``a``: a writable copy, since stepper's arrays are read-only."""
    return torch.from_numpy(np.array(a, dtype=np.float64))


def close(ours, theirs):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
