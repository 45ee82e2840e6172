"""Driving a control panel from a test: set widgets, press Generate, wait for the run."""

from __future__ import annotations

import asyncio


def generate(p, **values):
    """Set each named control of panel `p`, press Generate and return the finished run."""
    for name, value in values.items():
        p.controls[name].value = value

    async def click():
        p.generate_button.click()
        return await p.task

    return asyncio.run(click())
