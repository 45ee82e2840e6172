"""Notebooks under nbval run each with a fresh history folder, so no cell answers from an earlier run's cache and
no notebook sees another's spending (`%imagegen_usage` reads the day's spending from that folder)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_homes: dict[str, str] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before a notebook's first cell starts its kernel, point IMAGEMAGIC_HOME at a new temporary folder."""
    notebook = str(item.path)
    if notebook not in _homes:
        _homes[notebook] = os.environ["IMAGEMAGIC_HOME"] = tempfile.mkdtemp(prefix="imagemagic-nbval-home-")


def pytest_unconfigure(config):
    """Remove those folders."""
    for home in _homes.values():
        shutil.rmtree(home, ignore_errors=True)
    os.environ.pop("IMAGEMAGIC_HOME", None)
