"""Small helpers shared by every stage: seeded draws, money, and Arrow columns from codes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .params import DAY

_TS = pa.timestamp("us", tz="UTC")
_NULL = -1

Progress = Callable[[str, float], None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _pick(rng: np.random.Generator, shares: Sequence[float], n: int) -> np.ndarray:
    """Draw ``n`` category codes (int8) with the given shares."""
    cum = np.cumsum(np.asarray(shares, dtype=np.float64))
    cum /= cum[-1]
    codes = np.searchsorted(cum, rng.random(n), side="right")
    return np.minimum(codes, len(shares) - 1).astype(np.int8)


def _seconds(rng: np.random.Generator, days: np.ndarray | float, n: int | None = None) -> np.ndarray:
    """Whole seconds of a uniform draw in ``[0, days)`` days (``days`` may be an array)."""
    size = n if n is not None else np.shape(days)
    return np.asarray(np.floor(rng.random(size) * np.asarray(days) * DAY), dtype=np.int64)


def _exp_seconds(rng: np.random.Generator, mean_days: float, n: int) -> np.ndarray:
    return np.floor(rng.exponential(mean_days * DAY, n)).astype(np.int64)


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(np.maximum(np.asarray(x, dtype=np.float64), 0.0), 2)


def _lognormal_money(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return _money(median * np.exp(rng.normal(0.0, sigma, n)))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as a string array (vectorised in Arrow)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n, 1))))


def _take(values: pa.Array, codes: np.ndarray) -> pa.Array:
    """``values[codes]`` with ``codes < 0`` giving null."""
    codes = np.asarray(codes, dtype=np.int64)
    return values.take(pa.array(codes, mask=codes < 0))


def _labels(labels: Sequence[str], codes: np.ndarray) -> pa.Array:
    return _take(pa.array(labels, type=pa.string()), codes)


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=_TS)


def _nullable(values: np.ndarray, null: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.array(values, mask=np.asarray(null, dtype=bool), type=kind)
