"""Inline display: a placeholder per image, replaced in place by partials and the final image.

Images go to the front end as the base64 text that came off the wire, under their own MIME type
(image/png, image/jpeg, image/webp): never decoded and re-encoded, unless larger than the display
bound (`display_max_side`): then a smaller copy is shown and the original stays on disk and in `--out`.
Each slot is one output, updated through its display_id, so a saved notebook holds each image once, in
its final state. A partial superseded before it was shown is skipped; one that cannot be shown leaves
the placeholder with a line saying so. `finish()` ends every slot: an image or "no image · reason".
An image beyond the requested count gets an output of its own. Outside a notebook front end (terminal
IPython, scripts) nothing is drawn: the images are on disk and their paths are printed.
"""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
import uuid

from .errors import ImageDataError
from .imaging import encoded_copy, open_image
from .progress import Status
from .static import image_bundle
from .usage import describe_tokens

PLACEHOLDER_WIDTH = 480
TICK_SECONDS = 1.0


def is_notebook(shell=None):
    """True when output goes to a front end that renders images (not a terminal or a script)."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell"


def placeholder_png(size, lines):
    """A small grey card with the requested aspect ratio and status lines (no pixels of the image)."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = _dims(size)
    card = (PLACEHOLDER_WIDTH, max(60, round(PLACEHOLDER_WIDTH * height / width)))
    img = Image.new("RGB", card, (46, 48, 54))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=18)
    step = 26
    top = card[1] // 2 - step * (len(lines) - 1) // 2
    for i, line in enumerate(lines):
        draw.text((card[0] // 2, top + i * step), line, font=font, fill=(225, 228, 235), anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def display_copy(img, max_side):
    """(mime, data) to show a GeneratedImage inline: an SVG as its text; otherwise the wire's own base64,
    never decoded, when its long side is within `max_side` (0: no bound), else a copy scaled to it (PNG
    when it has transparency, else JPEG)."""
    return passthrough(img, max_side) or reduced_copy(img, max_side)


def passthrough(img, max_side):
    """(mime, data) of an image shown as it is (an SVG, or within the bound), else None: it needs a copy."""
    if img.format == "svg":
        return img.mime, img.image.text
    if not max_side or max(_wire_size(img)) <= max_side:
        return img.mime, img.wire_b64
    return None


class Superseded(Exception):
    """A copy was abandoned: a newer image of its slot came."""


class _Abandonable(io.RawIOBase):
    """A binary file whose reads raise Superseded once `abandoned()` is true: PIL decodes in blocks, so a copy
    stops within one block of being told."""

    def __init__(self, raw, abandoned):
        super().__init__()
        self.raw, self.abandoned = raw, abandoned

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        if self.abandoned():
            raise Superseded
        return self.raw.readinto(buffer)

    def seek(self, offset, whence=io.SEEK_SET):
        return self.raw.seek(offset, whence)

    def tell(self):
        return self.raw.tell()


def reduced_copy(img, max_side, abandoned=None):
    """(mime, base64) of a copy of `img` at most `max_side` pixels a side, made from the cheapest source: read
    from its file (or bytes), JPEG decoded already smaller (draft), then reduced by a box filter; only the
    encoded copy is kept (its pixels and the source's go when this returns). Raises Superseded as soon as
    `abandoned()` is true."""
    with img.source() as raw:
        handle = io.BufferedReader(_Abandonable(raw, abandoned)) if abandoned else raw
        source = open_image(handle, label=f"image {img.index + 1}")
        factor = -(-max(source.size) // max_side)  # the smallest whole factor that fits the bound
        source.draft(source.mode, (source.width // factor, source.height // factor))  # JPEG: decode already smaller
        if source.mode not in ("RGB", "RGBA", "L", "LA"):
            source = source.convert("RGBA")
        copy = source.reduce(max(1, -(-max(source.size) // max_side)))  # a box filter in C, far cheaper than resampling
        del source
    return encoded_copy(copy)


def _wire_size(img, head_chars=65536):
    """(width, height) read from the image's header: the start of its base64 text or of its file."""
    from PIL import Image

    if img.b64 is not None:
        try:
            return Image.open(io.BytesIO(base64.b64decode(img.b64[:head_chars]))).size
        except Exception:  # the header lies further in (a large EXIF block): open the whole image
            pass
    with img.source() as handle:
        return Image.open(handle).size


def _dims(size):
    try:
        width, height = (int(x) for x in str(size).split("x"))
        return (width, height) if width > 0 and height > 0 else (1, 1)
    except ValueError:
        return (1, 1)


class LiveDisplay:
    """The outputs of one call: one slot per image, updated in place until the final images."""

    def __init__(self, request, *, publish=None, update=None, max_side=0):
        from IPython.display import display, update_display

        self.request = request
        self.max_side = max_side  # images larger than this show as bounded copies (see display_copy)
        self.count = request.count
        self._display = publish or display
        self._update = update or update_display
        self._ids = [f"imagegen-{uuid.uuid4().hex}" for _ in range(self.count)]
        self._latest = [None] * self.count
        self._shown = [None] * self.count
        self._status = ""
        self._headline = "generating"
        self._flush_pending = False
        self._copying = {}  # slot -> (the image whose bounded copy is being made, the event abandoning it)
        self._tasks = set()  # the tasks making them
        self._started = time.monotonic()
        self.skipped = 0  # partials superseded before they were shown

    def _text(self, slot):
        size = self.request.size or "auto"
        return f"<image {slot + 1} of {self.count} · {self.request.model} · {size}>"

    def _placeholder(self, slot):
        elapsed = time.monotonic() - self._started
        partials = self.request.partial_images or 0
        lines = [
            f"{self._headline} · {self.request.model} · {self.request.size or 'auto'}",
            f"image {slot + 1} of {self.count} · {elapsed:.0f} s"
            + (f" · {partials} partials coming" if self.request.stream and partials else ""),
        ]
        if self._status:
            lines.append(self._status)
        data = placeholder_png(self.request.size if self.request.size not in (None, "auto") else "1024x1024", lines)
        return {"image/png": base64.b64encode(data).decode("ascii"), "text/plain": self._text(slot)}

    def open(self):
        """Show one placeholder per image."""
        for slot, display_id in enumerate(self._ids):
            self._display(self._placeholder(slot), raw=True, display_id=display_id)

    def on_event(self, event):
        """Take a GeneratedImage or a Status from the client; showing is coalesced per loop turn."""
        if isinstance(event, Status):
            self._status = event.message
            self._refresh_placeholders()
            return
        while event.index >= self.count:  # the server sent more images than asked: one more output each
            self._grow()
        previous = self._latest[event.index]
        if previous is not None and previous is not self._shown[event.index]:
            self.skipped += 1
        self._latest[event.index] = event
        if not self._flush_pending:
            self._flush_pending = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self.flush()

    def _grow(self):
        self.count += 1
        self._ids.append(f"imagegen-{uuid.uuid4().hex}")
        self._latest.append(None)
        self._shown.append(None)
        self._display(self._placeholder(self.count - 1), raw=True, display_id=self._ids[-1])

    def flush(self):
        """Show the newest image of each slot that changed; older partials are dropped unseen, and one
        that cannot be shown leaves the slot as it was, with a status line. A bounded copy is made in a
        worker thread when an event loop runs (other images keep streaming meanwhile); a newer image of
        the slot abandons the copy of an older partial and starts its own at once. See `drain`."""
        self._flush_pending = False
        for slot, img in enumerate(self._latest):
            busy = self._copying.get(slot)
            if img is None or img is self._shown[slot] or (busy is not None and busy[0] is img):
                continue
            if busy is not None:
                if not busy[0].partial:
                    continue  # a final's copy is never abandoned: shown when it is done
                busy[1].set()  # the partial being copied is superseded: released as its copy stops
            try:
                ready = passthrough(img, self.max_side)
                if ready is None and _loop_running():
                    abandon = threading.Event()
                    self._copying[slot] = (img, abandon)
                    task = asyncio.ensure_future(self._copy(slot, img, abandon))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    continue
                self._show(slot, img, ready or reduced_copy(img, self.max_side))
            except ImageDataError as exc:
                self._unshowable(slot, img, exc)

    async def _copy(self, slot, img, abandon):
        try:
            shown = await asyncio.to_thread(reduced_copy, img, self.max_side, abandon.is_set)
        except Superseded:
            pass
        except ImageDataError as exc:
            self._unshowable(slot, img, exc)
        else:
            current = self._shown[slot]
            if not (img.partial and current is not None and not current.partial):  # never a partial over its final
                self._show(slot, img, shown)
        finally:
            if self._copying.get(slot, (None,))[0] is img:
                del self._copying[slot]
        self.flush()  # a newer image may have come meanwhile

    async def drain(self):
        """Wait for the copies being made, then show what is pending."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.flush()

    def _show(self, slot, img, shown):
        bundle = image_bundle(*shown)  # WebP, GIF: a static copy too (static.py)
        self._update({**bundle, "text/plain": self._text(slot)}, raw=True, display_id=self._ids[slot])
        self._shown[slot] = img

    def _unshowable(self, slot, img, exc):
        if self._latest[slot] is img:  # not superseded meanwhile: the slot stays as it was
            self._latest[slot] = self._shown[slot]
        self._status = _short(f"skipped: {exc}")
        if self._shown[slot] is None:
            self._update(self._placeholder(slot), raw=True, display_id=self._ids[slot])

    def _refresh_placeholders(self):
        for slot in range(self.count):
            if self._latest[slot] is None:
                self._update(self._placeholder(slot), raw=True, display_id=self._ids[slot])

    def stop(self, reason):
        """The call ended without images for some slots: say so where they would have been."""
        self._headline = "no image"
        self._status = _short(reason)
        self._refresh_placeholders()

    def finish(self):
        """The call is over: show what is pending, and end every slot still waiting as "no image"."""
        self.flush()
        if any(img is None for img in self._latest):
            self.stop("the server sent no image for it")

    async def tick(self):
        """Refresh the placeholders' elapsed time until cancelled."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self._refresh_placeholders()


def _loop_running():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _short(line, width=44):
    return line if len(line) <= width else line[: width - 1] + "…"


def caption(result):
    """One line per image (size, format, revised prompt) and one for the call (usage, elapsed)."""
    lines = []
    for img, pil in zip(result.images, result):
        width, height = pil.size
        line = f"[{img.index + 1}] {width}x{height} {img.format}" + (" (partial)" if img.partial else "")
        if img.revised_prompt:
            line += f" · revised prompt: {img.revised_prompt}"
        lines.append(line)
    call = f"{len(result)} image{'s' if len(result) != 1 else ''} in {result.elapsed or 0:.1f} s"
    tokens = describe_tokens(result.usage)
    lines.append(call + (f" · {tokens}" if tokens else ""))
    return "\n".join(lines)


class RefusalCard:
    """A moderation refusal as a notebook shows it: a small card, not a traceback (its text form is one line)."""

    def __init__(self, error: Exception, prompt: str | None = None) -> None:
        self.line = f"refused by the provider's moderation (not billed, recorded in the history): {error}"
        self.prompt = prompt

    def __repr__(self):
        return self.line

    def _repr_html_(self):
        from html import escape

        prompt = f"<div style='opacity:.7'>{escape(_short(self.prompt, 120))}</div>" if self.prompt else ""
        return (
            "<div style='border:1px solid #c0392b;border-radius:6px;padding:8px 12px;max-width:36em'>"
            f"<b>Refused by moderation</b>{prompt}<div>{escape(self.line)}</div></div>"
        )
