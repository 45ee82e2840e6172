"""Notebooks under nbval run with a fresh history folder, so no cell answers from an earlier run's cache."""

from __future__ import annotations

import os
import shutil
import tempfile


def pytest_configure(config):
    """Point IMAGEMAGIC_HOME at a new temporary folder before any notebook kernel starts."""
    os.environ["IMAGEMAGIC_HOME"] = tempfile.mkdtemp(prefix="imagemagic-nbval-home-")


def pytest_unconfigure(config):
    """Remove that folder."""
    shutil.rmtree(os.environ.pop("IMAGEMAGIC_HOME", ""), ignore_errors=True)
