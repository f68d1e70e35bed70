"""scikit-learn's bundled handwritten digits (8 x 8 images, 10 classes), split and seeded.

``load_digits`` ships inside scikit-learn, so nothing is downloaded. Pixels (0..16) are
scaled to [0, 1] in steps of 1/16, which the default 8-fraction-bit fixed-point activation
format holds exactly. The split is stratified and fixed by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiecore.errors import EieError


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray  # (n_train, 64) float64 in [0, 1]
    y_train: np.ndarray  # (n_train,) int64 class labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> Digits:
    """The 1,797 digits, split into train and test sets (stratified, seeded)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise EieError(f"test fraction must lie in (0, 1), got {test_fraction}")
    data = load_digits()
    x = data.data.astype(np.float64) / 16.0
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Digits(x_train, y_train, x_test, y_test)
