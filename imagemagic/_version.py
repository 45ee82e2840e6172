"""The package's version, below every module that names it (the User-Agent header, `imagemagic --version`)."""

__version__ = "0.1.0"
