"""The n-gram model's key constants, without Numba: `ngram.py` checks configs and builds
arrays with them in processes that never run a kernel (the parent of `--workers`), and
importing Numba costs ~0.4 s and ~60 MB."""

from __future__ import annotations

import numpy as np

EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)  # never a valid key: valid keys are < 2**60
MAX_ORDER = 7  # 7 bytes + the BOS flag + the 3-bit length fit in 60 bits
BOS_ROW = 256  # row of the dense tables used when the previous symbol is BOS
