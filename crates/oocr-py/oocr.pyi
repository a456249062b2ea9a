"""oocr: out-of-context reasoning in transformers (Huang et al., NeurIPS 2025), reproduced.

The Rust toolkit from Python: configs, training runs, the max-margin programs and sweeps.
Matrices are float64 numpy arrays; results are dicts with the keys of the run-folder files.
Long calls release the GIL; Ctrl-C stops a training run with its metrics kept.
"""

import os
import pathlib
from typing import Any, Callable, Optional, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
Value = Union[bool, int, float, str]

def presets() -> list[dict[str, Any]]:
    """The built-in presets: ``[{"name", "description", "config"}]``."""

class Config:
    """A validated run configuration: ``[task]``, ``[model]``, ``[train]``.

    Every change is validated; a bad value raises ``ValueError`` naming the key
    (``config key `train.lr`: must be > 0, got 0``) and leaves the config unchanged.
    """

    def __init__(self) -> None:
        """The defaults (those of the ``paper-factorized`` preset)."""
    @staticmethod
    def preset(name: str) -> Config:
        """A built-in preset by name (``ValueError`` if unknown)."""
    @staticmethod
    def from_toml(path: PathLike) -> Config:
        """A TOML file (``OSError`` if unreadable, ``ValueError`` naming a bad key)."""
    @staticmethod
    def from_toml_str(text: str, source: Optional[str] = None) -> Config:
        """A TOML string; ``source`` names it in error messages."""
    @staticmethod
    def from_dict(values: dict[str, dict[str, Value]]) -> Config:
        """A dict of sections, as ``to_dict()`` returns (missing keys take defaults)."""
    def set(self, key: str, value: Value) -> Config:
        """Sets one dotted key (``"train.lr"``) in place and returns the config, so calls chain."""
    def get(self, key: str) -> Value:
        """The value of one dotted key (``KeyError`` if there is none)."""
    def to_dict(self) -> dict[str, dict[str, Value]]:
        """``{"task": {...}, "model": {...}, "train": {...}}``."""
    def to_toml(self) -> str:
        """The config as TOML, as a run folder's ``config.toml`` holds it."""
    def copy(self) -> Config:
        """An independent copy."""
    def __copy__(self) -> Config: ...
    def __eq__(self, other: object) -> bool: ...

ConfigLike = Union[Config, str]

class Run:
    """A finished (or stopped) training run."""

    @property
    def config(self) -> Config:
        """The resolved config."""
    @property
    def final(self) -> dict[str, Any]:
        """The metrics after the last step (``summary.json``'s ``final``)."""
    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every logged step, as the lines of ``metrics.jsonl`` (NaN is None)."""
    def metrics_frame(self) -> Any:
        """``metrics`` as a pandas DataFrame indexed by ``step`` (needs pandas)."""
    def w_ov(self) -> npt.NDArray[np.float64]:
        """The learned W_OV[answers, subjects ∪ {r1, r2}], shape (2n, |S| + 2)."""
    @property
    def w_ov_rows(self) -> list[str]:
        """Row names of ``w_ov()``: ``b_1..b_n, c_1..c_n``."""
    @property
    def w_ov_cols(self) -> list[str]:
        """Column names of ``w_ov()``: subjects ``s_i_j``, then ``r1``, ``r2``."""
    @property
    def steps(self) -> int:
        """Optimizer steps taken."""
    @property
    def stopped_at(self) -> Optional[int]:
        """The step at which Ctrl-C or the callback stopped the run; None when it finished."""
    @property
    def elapsed_s(self) -> float:
        """Wall-clock seconds of training."""
    @property
    def out(self) -> Optional[pathlib.Path]:
        """The run folder, or None."""

def train(
    config: ConfigLike,
    out: Optional[PathLike] = None,
    *,
    force: bool = False,
    progress: bool = False,
    callback: Optional[Callable[[dict[str, Any]], Any]] = None,
) -> Run:
    """Trains ``config`` (a Config or a preset name) from scratch.

    With ``out``, writes the run folder of ``oocr train --out`` (``config.toml``, ``metrics.jsonl``,
    ``w_ov.csv``, ``summary.json``); a non-empty folder is refused (``FileExistsError``) unless
    ``force``. ``progress`` prints a line per logged step; ``callback(record)`` sees every logged
    record, and an exception it raises stops the run. Ctrl-C stops the run after the current step
    and raises ``KeyboardInterrupt`` whose ``run`` attribute holds the stopped Run.
    """

def svm(
    config: ConfigLike,
    norm: str = "nuclear",
    *,
    method: str = "auto",
    tol: float = 1e-8,
    max_iter: int = 200000,
) -> dict[str, Any]:
    """The certified ``nuclear`` or ``frobenius`` max-margin program of the config's task.

    Keys of ``oocr svm``'s JSON report (``objective``, ``status``, margins, ``certificate``, ...)
    plus ``w`` (float64 numpy array), ``rows`` and ``cols``.
    """

def sweep(
    grid: PathLike,
    out: PathLike,
    *,
    jobs: Optional[int] = None,
    shard: Optional[str] = None,
) -> list[dict[str, Any]]:
    """Trains every point of a grid file into ``out`` (resumable); one log dict per point."""

def aggregate(dir: PathLike) -> list[dict[str, Any]]:
    """One dict per grid point of a sweep folder: varying keys, ``runs``, ``failed``, ``seeds``,
    ``METRIC_mean`` and ``METRIC_std`` per final metric."""
