"""The offline preview engine: deterministic placeholder art that tells the truth about itself.

The same (prompt, model, size, quality, style, background, index) always gives the same bytes.
Colours come from colour words in the prompt (else from its hash), the prompt is written on the
image, and a small "offline preview" mark says what made it. Partial images are pixelated
versions of the final one, coarse first. The same scene can be drawn as pixels, as an animated GIF
(a bar sweeps across the frames) or as an SVG document of vector shapes with the prompt as text.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import textwrap
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

GIF_FRAMES, GIF_MS = 9, 200  # the API's defaults for frame_count and frame_duration_ms

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


def _scene(prompt, width, height, model, quality, style, background, index):
    """(colours, shapes): the palette and the (kind, box, colour) shapes every rendering of a request draws."""
    rng = random.Random(_seed(prompt, model, width, height, quality, style, background, index))
    colours = _palette(prompt, rng, style)
    short = min(width, height)
    shapes = []
    for i in range({"low": 3, "medium": 6, "high": 10}.get(quality, 6)):
        radius = rng.randrange(short // 16 + 1, short // 4 + 2)
        x, y = rng.randrange(width), rng.randrange(height)
        kind = "ellipse" if i % 2 == 0 else "rectangle"
        shapes.append((kind, (x - radius, y - radius, x + radius, y + radius), colours[(i + 2) % len(colours)]))
    return colours, shapes


def _mark_text(model, width, height, index):
    return f"offline preview · {model or 'model'} · {width}x{height} · #{index + 1}"


def render_final(prompt, *, width, height, model="", quality=None, style=None, background=None, index=0):
    """The final preview image as a PIL image (RGBA when the background is transparent)."""
    colours, shapes = _scene(prompt, width, height, model, quality, style, background, index)
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
    for kind, box, colour in shapes:
        fill = colour + ((255,) if transparent else ())
        (draw.ellipse if kind == "ellipse" else draw.rectangle)(
            box, fill=fill, outline=(255, 255, 255, 255)[: len(fill)], width=max(1, short // 256)
        )
    _caption(draw, prompt, width, height, transparent)
    _mark(draw, _mark_text(model, width, height, index), width, height, transparent)
    return img


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _rgb(colour):
    return "#{:02x}{:02x}{:02x}".format(*colour)


def render_svg(
    prompt, *, width, height, model="", quality=None, style=None, background=None, index=0, detail=1.0
) -> bytes:
    """The preview as an SVG document: the same scene as vector shapes, the prompt and the mark as <text>.

    `detail` (0-1): the share of shapes drawn, for partial images."""
    colours, shapes = _scene(prompt, width, height, model, quality, style, background, index)
    short = min(width, height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
    ]
    if background != "transparent":
        out += [
            '<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">'
            f'<stop offset="0" stop-color="{_rgb(colours[0])}"/><stop offset="1" stop-color="{_rgb(colours[1])}"/>'
            "</linearGradient></defs>",
            f'<rect width="{width}" height="{height}" fill="url(#bg)"/>',
        ]
    stroke = f'stroke="#ffffff" stroke-width="{max(1, short // 256)}"'
    for kind, (x0, y0, x1, y1), colour in shapes[: round(len(shapes) * detail)]:
        if kind == "ellipse":
            out.append(
                f'<circle cx="{(x0 + x1) // 2}" cy="{(y0 + y1) // 2}" r="{(x1 - x0) // 2}" '
                f'fill="{_rgb(colour)}" {stroke}/>'
            )
        else:
            out.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{_rgb(colour)}" {stroke}/>')
    size, lines, top, line_height = _caption_layout(_NOT_XML.sub("", prompt), width, height)
    pad = size // 2
    out.append(
        f'<rect x="{width // 10 - pad}" y="{top - pad}" width="{width - 2 * (width // 10) + 2 * pad}" '
        f'height="{line_height * len(lines) + 2 * pad}" fill="#101014" fill-opacity="0.8"/>'
    )
    text = f'font-family="sans-serif" text-anchor="middle" dominant-baseline="central" font-size="{size}"'
    for i, line in enumerate(lines):
        y = top + i * line_height + line_height // 2
        out.append(f'<text x="{width // 2}" y="{y}" {text} fill="#fafafa">{escape(line)}</text>')
    mark = max(8, short // 48)
    label = escape(_mark_text(_NOT_XML.sub("", model), width, height, index))
    out.append(
        f'<text x="{width - mark}" y="{height - mark}" font-family="sans-serif" font-size="{mark}" '
        f'text-anchor="end" fill="#ffd65a">{label}</text>'
    )
    out.append(f"<title>{escape(_NOT_XML.sub('', prompt))}</title>")
    out.append("</svg>")
    return "\n".join(out).encode()


def animate(img, frames, duration_ms) -> bytes:
    """An animated GIF of `frames` frames, `duration_ms` each, looping: a bar sweeps across the final image."""
    base = img.convert("RGB")
    bar = max(2, img.height // 64)
    stills = []
    for i in range(frames):
        frame = base.copy()
        ImageDraw.Draw(frame).rectangle((0, 0, (i + 1) * img.width // frames - 1, bar - 1), fill=(255, 214, 90))
        stills.append(frame)
    out = io.BytesIO()
    stills[0].save(out, "GIF", save_all=True, append_images=stills[1:], duration=duration_ms, loop=0)
    return out.getvalue()


def _caption_layout(prompt, width, height):
    """(font size, lines, top, line height) of the prompt written across the middle."""
    size = max(10, min(width, height) // 18)
    chars = max(8, int(width * 0.8 / (size * 0.55)))
    lines = textwrap.wrap(" ".join(prompt.split()), chars)[:5] or [""]
    if len(lines) == 5:
        lines[-1] = lines[-1][: chars - 1] + "…"
    line_height = int(size * 1.25)
    return size, lines, (height - line_height * len(lines)) // 2, line_height


def _caption(draw, prompt, width, height, transparent):
    size, lines, top, line_height = _caption_layout(prompt, width, height)
    font = _font(size)
    block = line_height * len(lines)
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
