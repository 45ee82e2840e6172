"""imagemagic: text-to-image generation as a first-class citizen of Jupyter.

    %load_ext imagemagic
    %%imagegen --size 1536x1024 --out hero
    A lighthouse on a cliff at dawn

or from Python: `imagemagic.generate("a red kite", size="1024x1024")`. With no OPENAI_API_KEY
a built-in offline preview server answers. Everything heavy loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # what `__getattr__` loads on first use, spelled out for type checkers and IDEs
    from IPython.core.interactiveshell import InteractiveShell

    from .api import aedit, agenerate, edit, generate
    from .batchjob import BatchJob, batch, batches, submit_batch
    from .call import Call
    from .catalog import DEFAULT_MODEL, MODELS
    from .client import AsyncImagesClient, ImagesClient
    from .controlpanel import Panel, panel
    from .endpoint import Endpoint
    from .errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetError,
        ConflictError,
        ContentPolicyViolationError,
        ImageDataError,
        ImageMagicError,
        ImageMagicWarning,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        TransportError,
        UnprocessableEntityError,
        ValidationError,
    )
    from .expand import expand
    from .inputs import InputImage, mask_from
    from .params import PARAMS
    from .recipes import Recipe, recipe
    from .refinement import arefine, refine
    from .request import EditRequest, ImageRequest
    from .result import GeneratedImage, ImageResult
    from .session import Session
    from .settings import Settings, prepare
    from .store import HistoryStore, history
    from .sweep_result import Run, Sweep
    from .sweeps import asweep, sweep

_ERRORS = (
    "ImageMagicError", "ValidationError", "BudgetError", "APIError", "BadRequestError", "ContentPolicyViolationError",
    "AuthenticationError", "PermissionDeniedError", "NotFoundError", "ConflictError", "UnprocessableEntityError",
    "RateLimitError", "InternalServerError", "TransportError", "APIConnectionError", "APITimeoutError",
    "ImageDataError", "ImageMagicWarning",
)  # fmt: skip
_EXPORTS = {
    "generate": "api", "agenerate": "api", "edit": "api", "aedit": "api", "Call": "call",
    "mask_from": "inputs", "InputImage": "inputs", "EditRequest": "request",
    "Settings": "settings", "prepare": "settings", "Session": "session", "PARAMS": "params",
    "ImageRequest": "request", "ImageResult": "result", "GeneratedImage": "result",
    "ImagesClient": "client", "AsyncImagesClient": "client", "Endpoint": "endpoint",
    "HistoryStore": "store", "history": "store", "MODELS": "catalog", "DEFAULT_MODEL": "catalog",
    "panel": "controlpanel", "Panel": "controlpanel", "recipe": "recipes", "Recipe": "recipes",
    "refine": "refinement", "arefine": "refinement",
    "submit_batch": "batchjob", "batches": "batchjob", "batch": "batchjob", "BatchJob": "batchjob",
    "sweep": "sweeps", "asweep": "sweeps", "Sweep": "sweep_result", "Run": "sweep_result", "expand": "expand",
    **dict.fromkeys(_ERRORS, "errors"),
}  # fmt: skip
__all__ = ["__version__", "load_ipython_extension", *_EXPORTS]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'imagemagic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """`%load_ext imagemagic`: register %%imagegen / %imagegen."""
    from .magics import ImageGenMagics

    ipython.register_magics(ImageGenMagics)
