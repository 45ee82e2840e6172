"""imagemagic: text-to-image generation as a first-class citizen of Jupyter.

    %load_ext imagemagic
    %%imagegen --size 1536x1024 --out hero
    A lighthouse on a cliff at dawn

or from Python: `imagemagic.generate("a red kite", size="1024x1024")`. With no OPENAI_API_KEY
a built-in offline preview server answers. Everything heavy loads on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_ERRORS = (
    "ImageMagicError", "ValidationError", "APIError", "BadRequestError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "ConflictError", "UnprocessableEntityError", "RateLimitError",
    "InternalServerError", "TransportError", "APIConnectionError", "APITimeoutError", "ImageDataError",
    "ImageMagicWarning",
)  # fmt: skip
_EXPORTS = {
    "generate": "api", "agenerate": "api", "edit": "api", "aedit": "api", "Call": "api",
    "mask_from": "inputs", "InputImage": "inputs", "EditRequest": "request",
    "Settings": "settings", "prepare": "settings", "Session": "session", "PARAMS": "params",
    "ImageRequest": "request", "ImageResult": "result", "GeneratedImage": "result",
    "ImagesClient": "client", "AsyncImagesClient": "client", "Endpoint": "endpoint",
    "HistoryStore": "store", "history": "store", "MODELS": "catalog", "DEFAULT_MODEL": "catalog",
    "panel": "controlpanel", "Panel": "controlpanel", "refine": "refinement", "arefine": "refinement",
    "submit_batch": "batchjob", "batches": "batchjob", "batch": "batchjob", "BatchJob": "batchjob",
    "sweep": "sweeps", "asweep": "sweeps", "Sweep": "sweeps", "Run": "sweeps", "expand": "expand",
    **dict.fromkeys(_ERRORS, "errors"),
}  # fmt: skip
__all__ = ["__version__", "load_ipython_extension", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'imagemagic' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


def load_ipython_extension(ipython):
    """`%load_ext imagemagic`: register %%imagegen / %imagegen."""
    from .magics import ImageGenMagics

    ipython.register_magics(ImageGenMagics)
