"""The offline preview engine: deterministic placeholder art that tells the truth about itself.

The same (prompt, model, size, quality, style, background, index) always gives the same bytes.
Colours come from colour words in the prompt (else from its hash), the prompt is written on the
image, and a small "offline preview" mark says what made it. Partial images are pixelated
versions of the final one, coarse first.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "red": (214, 48, 49),
    "orange": (243, 139, 37),
    "yellow": (246, 210, 64),
    "gold": (212, 175, 55),
    "green": (56, 161, 84),
    "forest": (34, 102, 58),
    "teal": (0, 128, 128),
    "cyan": (64, 200, 224),
    "blue": (41, 98, 199),
    "sea": (28, 110, 164),
    "ocean": (22, 86, 140),
    "sky": (135, 190, 235),
    "purple": (128, 72, 178),
    "violet": (143, 94, 214),
    "pink": (240, 128, 170),
    "magenta": (200, 40, 150),
    "brown": (133, 94, 66),
    "white": (240, 240, 236),
    "snow": (232, 240, 250),
    "grey": (128, 128, 132),
    "gray": (128, 128, 132),
    "black": (24, 24, 28),
    "night": (18, 24, 58),
    "dawn": (250, 170, 120),
    "dusk": (120, 80, 140),
    "sunset": (238, 110, 70),
    "fire": (230, 80, 20),
    "lighthouse": (236, 236, 228),
    "watercolor": (170, 200, 220),
    "cliff": (120, 110, 100),
    "kite": (214, 48, 49),
    "desert": (222, 190, 130),
}


def _seed(*parts):
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def _palette(prompt, rng, style):
    words = [w.strip(".,;:!?\"'()").lower() for w in prompt.split()]
    found = [COLOURS[w] for w in words if w in COLOURS]
    while len(found) < 3:
        found.append(tuple(rng.randrange(40, 230) for _ in range(3)))
    if style == "natural":  # muted: pull each colour towards grey
        found = [tuple((c + 128) // 2 for c in colour) for colour in found]
    return found[:4]


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def render_final(prompt, *, width, height, model="", quality=None, style=None, background=None, index=0):
    """The final preview image as a PIL image (RGBA when the background is transparent)."""
    rng = random.Random(_seed(prompt, model, width, height, quality, style, background, index))
    colours = _palette(prompt, rng, style)
    transparent = background == "transparent"
    if transparent:
        img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    else:
        gradient = Image.linear_gradient("L").resize((width, height), Image.BILINEAR)
        img = Image.composite(
            Image.new("RGB", (width, height), colours[1]), Image.new("RGB", (width, height), colours[0]), gradient
        )
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    shapes = {"low": 3, "medium": 6, "high": 10}.get(quality, 6)
    for i in range(shapes):
        colour = colours[(i + 2) % len(colours)]
        radius = rng.randrange(short // 16 + 1, short // 4 + 2)
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x - radius, y - radius, x + radius, y + radius)
        fill = colour + ((255,) if transparent else ())
        (draw.ellipse if i % 2 == 0 else draw.rectangle)(
            box, fill=fill, outline=(255, 255, 255, 255)[: len(fill)], width=max(1, short // 256)
        )
    _caption(draw, prompt, width, height, transparent)
    _mark(draw, f"offline preview · {model or 'model'} · {width}x{height} · #{index + 1}", width, height, transparent)
    return img


def _caption(draw, prompt, width, height, transparent):
    size = max(10, min(width, height) // 18)
    font = _font(size)
    chars = max(8, int(width * 0.8 / (size * 0.55)))
    lines = textwrap.wrap(" ".join(prompt.split()), chars)[:5] or [""]
    if len(lines) == 5:
        lines[-1] = lines[-1][: chars - 1] + "…"
    line_height = int(size * 1.25)
    block = line_height * len(lines)
    top = (height - block) // 2
    pad = size // 2
    panel = (0, 0, 0, 170) if transparent else (16, 16, 20)
    draw.rectangle((width // 10 - pad, top - pad, width - width // 10 + pad, top + block + pad), fill=panel)
    for i, line in enumerate(lines):
        draw.text(
            (width // 2, top + i * line_height + line_height // 2),
            line,
            font=font,
            fill=(250, 250, 250) + ((255,) if transparent else ()),
            anchor="mm",
        )


def _mark(draw, text, width, height, transparent):
    size = max(8, min(width, height) // 48)
    font = _font(size)
    margin = size
    x1, y1 = width - margin, height - margin
    left, top, right, bottom = draw.textbbox((x1, y1), text, font=font, anchor="rd")
    draw.rectangle(
        (left - size // 3, top - size // 3, right + size // 3, bottom + size // 3),
        fill=(0, 0, 0, 200) if transparent else (0, 0, 0),
    )
    draw.text((x1, y1), text, font=font, fill=(255, 214, 90) + ((255,) if transparent else ()), anchor="rd")


def pixelate(img, stage, stages):
    """Partial image `stage` of `stages`: blocks shrink as the stage advances."""
    block = 2 ** (stages - stage + 2)
    small = img.resize((max(1, img.width // block), max(1, img.height // block)), Image.BOX)
    return small.resize(img.size, Image.NEAREST)


def encode(img, output_format="png", compression=None):
    """Image file bytes; compression (0-100) is the JPEG/WebP quality."""
    out = io.BytesIO()
    if output_format == "jpeg":
        img.convert("RGB").save(out, "JPEG", quality=compression if compression is not None else 95)
    elif output_format == "webp":
        img.save(out, "WEBP", quality=compression if compression is not None else 90, method=0)
    else:
        img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def render_edit(prompt, first, *, mask=None, others=(), width, height, model="", quality=None, index=0, seed=""):
    """The preview of an edit: the first input at the output size, the region to edit (transparent in
    `mask`, else all of it) visibly repainted with the prompt's colours, the other inputs as thumbnails
    along the bottom, the prompt, and an "offline edit" mark. `seed` (the inputs' hashes) makes it
    deterministic for identical inputs."""
    base = first.convert("RGB").resize((width, height), Image.BILINEAR)
    paint = render_final(prompt, width=width, height=height, model=model, quality=quality, index=index)
    tint = tuple(hashlib.sha256(seed.encode()).digest()[:3])
    paint = Image.blend(paint.convert("RGB"), Image.new("RGB", (width, height), tint), 0.2)
    if mask is not None:
        region = mask.convert("RGBA").getchannel("A").resize((width, height), Image.NEAREST).point(lambda a: 255 - a)
        img = Image.composite(paint, base, region)
    else:
        img = Image.blend(base, paint, 0.45)
    thumb = max(16, min(width, height) // 8)
    for i, other in enumerate(others[: max(1, width // (thumb + 8))]):
        small = other.convert("RGB")
        small.thumbnail((thumb, thumb))
        img.paste(small, (8 + i * (thumb + 8), height - thumb - 8))
    draw = ImageDraw.Draw(img)
    _caption(draw, prompt, width, height, False)
    inputs = f"{1 + len(others)} input{'s' if others else ''}{', masked' if mask is not None else ''}"
    _mark(draw, f"offline edit · {model or 'model'} · {width}x{height} · {inputs} · #{index + 1}", width, height, False)
    return img
