"""commetrics: prove what a customer community is worth.

The public API is what this module exports; everything else may change without notice.
"""

from __future__ import annotations

from .config import Config as Config
from .config import ConversionDefinition as ConversionDefinition
from .config import load_config as load_config
from .engine import Engine as Engine
from .engine import Status as Status
from .errors import BackendError as BackendError
from .errors import CommetricsError as CommetricsError
from .errors import ConfigError as ConfigError
from .errors import InputError as InputError
from .errors import MissingColumnError as MissingColumnError
from .errors import NotEnoughDataError as NotEnoughDataError
from .errors import SchemaContractError as SchemaContractError
from .errors import StoreDamagedError as StoreDamagedError
from .errors import StoreUnavailableError as StoreUnavailableError
from .errors import UnknownNameError as UnknownNameError
from .errors import UnreadableFileError as UnreadableFileError
from .errors import WorkspaceError as WorkspaceError
from .ingest import LoadReport as LoadReport
from .ingest import Reason as Reason
from .results import Diagnostic as Diagnostic
from .results import Publication as Publication
from .results import Result as Result

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "CommetricsError",
    "Config",
    "ConfigError",
    "ConversionDefinition",
    "Diagnostic",
    "Engine",
    "InputError",
    "LoadReport",
    "MissingColumnError",
    "NotEnoughDataError",
    "Publication",
    "Reason",
    "Result",
    "SchemaContractError",
    "Status",
    "StoreDamagedError",
    "StoreUnavailableError",
    "UnknownNameError",
    "UnreadableFileError",
    "WorkspaceError",
    "load_config",
    "write_report",
]


def __getattr__(name: str) -> object:
    """``commetrics.write_report`` loads the report writer (and the analysis stack) when first used."""
    if name == "write_report":
        from .reports import write_report

        return write_report
    raise AttributeError(f"module 'commetrics' has no attribute {name!r}")
