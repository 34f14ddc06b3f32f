"""commetrics: prove what a customer community is worth.

The public API is what this module exports; everything else may change without notice.
"""

from __future__ import annotations

from .config import Config as Config
from .config import ConversionDefinition as ConversionDefinition
from .config import load_config as load_config
from .engine import Engine as Engine
from .engine import Status as Status
from .errors import CommetricsError as CommetricsError
from .errors import ConfigError as ConfigError
from .errors import InputError as InputError
from .errors import MissingColumnError as MissingColumnError
from .errors import SchemaContractError as SchemaContractError
from .errors import UnknownNameError as UnknownNameError
from .errors import UnreadableFileError as UnreadableFileError
from .errors import WorkspaceError as WorkspaceError
from .ingest import LoadReport as LoadReport
from .ingest import Reason as Reason

__version__ = "0.1.0"

__all__ = [
    "CommetricsError",
    "Config",
    "ConfigError",
    "ConversionDefinition",
    "Engine",
    "InputError",
    "LoadReport",
    "MissingColumnError",
    "Reason",
    "SchemaContractError",
    "Status",
    "UnknownNameError",
    "UnreadableFileError",
    "WorkspaceError",
    "load_config",
]
