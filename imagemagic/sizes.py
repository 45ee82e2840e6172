"""Sizes as people say them: an aspect (`16:9`, `square`, `landscape`, `portrait`) and a resolution
(`1K`, `2K`, `4K`) become the model's `WIDTHxHEIGHT`; a size that breaks a rule gets the nearest one allowed.

Pure functions over the catalog. Fixed-size models get their closest allowed size (with a note when
the aspect is not exact); free-size models get the aspect at the resolution (default 1K: a long side
of 1024), on their pixel grid and inside their limits. `resolution` is never sent: only the size it
picks is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .catalog import DEFAULT_RESOLUTION, MODELS, RESOLUTIONS, FreeSizes, Model
from .errors import quoted, shown

NAMED: dict[str, tuple[int, int]] = {"square": (1, 1), "landscape": (3, 2), "portrait": (2, 3)}
ASPECTS: tuple[str, ...] = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21")
_ASPECT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*")
_DIMS = re.compile(r"([1-9]\d*)x([1-9]\d*)")
ASPECT_PARTS = (0.01, 10_000)  # the range of each part of an aspect: its ratio stays within 1:1e6 and 1e6:1


@dataclass(frozen=True)
class Chosen:
    """What an aspect or a size text came to: the size to send (None: leave it out), a one-line `note`
    when it is not exactly what was asked, or the `problem` sentence when it cannot be done."""

    size: object  # what to send: WIDTHxHEIGHT, auto, None, or the value as given when it is no aspect
    note: str | None = None
    problem: str | None = None
    param: str = "size"  # the parameter the problem is about


def aspect(text: object) -> tuple[float, float] | None:
    """(width part, height part) of an aspect such as '16:9' or 'portrait'; None for anything else."""
    if not isinstance(text, str):
        return None
    if text.strip().lower() in NAMED:
        return NAMED[text.strip().lower()]
    match = _ASPECT.fullmatch(text)
    return (float(match[1]), float(match[2])) if match else None


def _dims(size: str) -> tuple[int, int] | None:
    match = _DIMS.fullmatch(size)
    return (int(match[1]), int(match[2])) if match else None


def broken_rules(width: int, height: int, free: FreeSizes) -> list[str]:
    """Each rule of a free-size model that WIDTHxHEIGHT breaks, as the clause that states it."""
    long, short = max(width, height), min(width, height)
    rules = (
        (width % free.multiple or height % free.multiple, f"both sides must be divisible by {free.multiple}"),
        (
            long > free.max_ratio * short,
            f"the aspect ratio must be between 1:{free.max_ratio:g} and {free.max_ratio:g}:1",
        ),
        (
            long > free.max_long_side or short > free.max_short_side,
            f"the largest size is {free.max_long_side}x{free.max_short_side} (either orientation)",
        ),
        (width * height > free.max_pixels, f"at most {free.max_pixels:,} pixels in all (it has {width * height:,})"),
    )
    return [why for broken, why in rules if broken]


def _fitting(width: float, height: float, free: FreeSizes, reach: int, at_least: int = 0) -> list[tuple[int, int]]:
    """The allowed sizes within `reach` grid steps of WIDTHxHEIGHT (snapped to the grid)."""
    step = free.multiple
    w0, h0 = (max(step, math.floor(x / step + 0.5) * step) for x in (width, height))
    grid = [(w0 + i * step, h0 + j * step) for i in range(-reach, reach + 1) for j in range(-reach, reach + 1)]
    return [(a, b) for a, b in grid if a > 0 and b > 0 and a * b >= at_least and _fits(a, b, free)]


def _fits(width: int, height: int, free: FreeSizes) -> bool:
    """True when WIDTHxHEIGHT (on the grid) breaks none of `broken_rules`."""
    long, short = max(width, height), min(width, height)
    return (
        long <= free.max_ratio * short
        and long <= free.max_long_side
        and short <= free.max_short_side
        and width * height <= free.max_pixels
    )


def _scaled(width: float, height: float, free: FreeSizes, at_least: int) -> tuple[float, float, float, float]:
    """WIDTHxHEIGHT's aspect (within the ratio limit) at its area, brought inside the limits and to `at_least`
    pixels: (width, height, ratio, area)."""
    ratio = min(max(width / height, 1 / free.max_ratio), free.max_ratio)
    wide = max(ratio, 1 / ratio)
    limit = min(free.max_pixels, free.max_long_side**2 / wide, free.max_short_side**2 * wide)
    area = min(max(width * height, at_least), limit)
    return math.sqrt(area * ratio), math.sqrt(area / ratio), ratio, area


def nearest(width: int, height: int, free: FreeSizes) -> str:
    """The allowed size nearest to WIDTHxHEIGHT (each side moved as little as it can)."""
    w, h = (min(max(x, free.multiple), free.max_long_side) for x in (width, height))
    candidates = _fitting(w, h, free, 24) + _fitting(*_scaled(width, height, free, 0)[:2], free, 3)
    best = min(candidates, key=lambda s: ((s[0] - width) ** 2 + (s[1] - height) ** 2, -s[0] * s[1]))
    return f"{best[0]}x{best[1]}"


def for_aspect(width: float, height: float, free: FreeSizes, at_least: int = 0) -> str:
    """The allowed size closest to the aspect and area of WIDTHxHEIGHT (brought inside the limits and to
    `at_least` pixels), on the grid; closeness weighs aspect and area alike."""
    w, h, ratio, area = _scaled(width, height, free, at_least)
    fitting = _fitting(w, h, free, 3, at_least)
    best = min(fitting, key=lambda s: (abs(math.log(s[0] / s[1] / ratio)) + abs(math.log(s[0] * s[1] / area)), -s[0]))
    return f"{best[0]}x{best[1]}"


def _ratio_text(width: float, height: float) -> str:
    return f"{width:g}:{height:g}"


def nearest_fixed(width: float, height: float, sizes: tuple[str, ...], area: bool = True) -> str:
    """Of a fixed-size model's `sizes`, the closest in aspect to WIDTHxHEIGHT, then in area (`area=False`:
    then the largest)."""
    want = math.log(width / height)

    def distance(size: str) -> tuple[float, float]:
        w, h = _dims(size)  # type: ignore[misc]
        return (round(abs(math.log(w / h) - want), 9), abs(math.log(w * h / (width * height))) if area else -w * h)

    return min((s for s in sizes if _dims(s)), key=distance)


def choose(model: Model | None, model_name: object, size: object, resolution: object) -> Chosen:
    """The size to send for `size` (an aspect, WIDTHxHEIGHT, auto or None) at `resolution` (None: the default)
    on `model` (its catalog row; None when unknown). Sizes that are not aspects pass unchanged (validation
    judges them)."""
    if resolution is not None and (not isinstance(resolution, str) or resolution.upper() not in RESOLUTIONS):
        allowed = ", ".join(RESOLUTIONS)
        return Chosen(
            None, problem=f"resolution={quoted(resolution)} is not a resolution: use {allowed}", param="resolution"
        )
    parts = aspect(size)
    if parts is None and size is None and resolution is not None:
        parts, size = NAMED["square"], "square"
    if parts is None:
        if resolution is not None and isinstance(size, str):
            return Chosen(
                None,
                problem=f"resolution={resolution} needs an aspect size (e.g. 16:9), not size={shown(size)}",
                param="resolution",
            )
        return Chosen(size)
    size = shown(str(size))
    if not all(ASPECT_PARTS[0] <= part <= ASPECT_PARTS[1] for part in parts):
        low, high = ASPECT_PARTS
        line = f"size={size} is not an aspect: both parts must be from {low:g} to {high:g} (e.g. 16:9)"
        return Chosen(None, problem=line)
    if model is None:
        return Chosen(
            None, problem=f"size={size} needs a model whose sizes we know: write WIDTHxHEIGHT for {shown(model_name)}"
        )
    if model.free_sizes is None:
        if resolution is not None:
            fixed = ", ".join(model.sizes)
            return Chosen(
                None,
                problem=f"resolution={resolution} is not supported by {model.name}: its sizes are fixed "
                f"({fixed}); leave it out",
                param="resolution",
            )
        picked = nearest_fixed(*parts, model.sizes, area=False)
        w, h = _dims(picked)  # type: ignore[misc]
        note = (
            None
            if w * parts[1] == h * parts[0]
            else f"size={size} is {picked} on {model.name}: it has no {_ratio_text(*parts)} size, this is the closest"
        )
        return Chosen(picked, note)
    return _free(parts, str(size), (resolution or DEFAULT_RESOLUTION).upper(), model, model.free_sizes)


def _free(parts: tuple[float, float], size: str, resolution: str, model: Model, free: FreeSizes) -> Chosen:
    ratio = parts[0] / parts[1]
    if max(ratio, 1 / ratio) > free.max_ratio:
        return Chosen(
            None,
            problem=f"size={size} does not fit {model.name}: the aspect ratio must be between "
            f"1:{free.max_ratio:g} and {free.max_ratio:g}:1",
        )
    long = RESOLUTIONS[resolution]
    width, height = (long, long / ratio) if ratio >= 1 else (long * ratio, long)
    picked = for_aspect(width, height, free, at_least=free.warn_below_pixels)
    w, h = _dims(picked)  # type: ignore[misc]
    note = None
    if abs(max(w, h) - long) > free.multiple:
        note = f"size={size} at {resolution} is {picked} on {model.name}: the closest within its limits"
    elif w * parts[1] != h * parts[0]:
        grid = f"its {free.multiple}-pixel grid"
        note = f"size={size} is {picked} on {model.name}: the nearest to {_ratio_text(*parts)} on {grid}"
    return Chosen(picked, note)


def apply(values: dict, model: Model | None) -> tuple[dict, Chosen]:
    """`values` (request parameters by name) with `size` made the model's and `resolution` taken out, and what
    was chosen (its note or problem)."""
    values = dict(values)
    chosen = choose(model, values.get("model"), values.get("size"), values.pop("resolution", None))
    if chosen.problem is None:
        values["size"] = chosen.size
    return values, chosen


def offered(model: Model | None) -> tuple[str, ...]:
    """The sizes to offer for `model`: the aspects it makes (for fixed-size models: square, landscape, portrait
    and the exact ones), then its sizes."""
    if model is None:  # no aspects without known sizes: every size the catalog knows
        return tuple(dict.fromkeys(size for m in MODELS.values() for size in m.sizes))
    names = [name for name in (*NAMED, *ASPECTS) if choose(model, model.name, name, None).problem is None]
    if model.free_sizes is None:
        names = [n for n in names if n in NAMED or choose(model, model.name, n, None).note is None]
    return (*names, *model.sizes)
