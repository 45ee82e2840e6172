"""The control panel: every request parameter as a core ipywidget, generation as a task on the
kernel's event loop, and a gallery of every run of the session.

The widgets derive from the parameter table (params.py), their defaults from the Settings that
`%config ImageGenMagics` fills, and a generation goes through the same preparation path as the
magic (settings.prepare) and the same run path (run.RunPath): the cache follows
`%config ImageGenMagics.cache` unless "fresh" is ticked, and advice shows in the status line. The
logic is plain functions (what a model lets you set, widget values → parameters, the equivalent
`%%imagegen` cell, captions, saving); `Panel`, itself a VBox, builds the widgets and wires them in
one place. Cancel is a quiet cancel; an unexpected error shows in the panel and ends the task.
"""

from __future__ import annotations

import asyncio
import html
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from . import refinement  # noqa: F401 - registers ImageResult.refine/arefine for the results made here
from .catalog import DEFAULT_MODEL, MODELS, lookup
from .display import RefusalCard, placeholder_png
from .errors import ContentPolicyViolationError, ImageMagicError, ValidationError
from .flags import help_for
from .params import for_operation
from .progress import Status
from .refinement import plan_refinement
from .result import ImageResult, save_images
from .run import RunPath, use_cache
from .settings import Settings, prepare, request_for
from .sizes import offered as offered_sizes
from .static import WidgetDisplay, gallery_still
from .usage import describe_tokens

if TYPE_CHECKING:
    from PIL import Image

    from .request import ImageRequest
    from .responses_request import ResponsesRequest
    from .result import GeneratedImage
    from .session import Session

CHOICES = tuple(p.name for p in for_operation("generate") if p.choices and p.choices != "sizes")
TICK_SECONDS = 0.25
THUMB = "256px"
LABEL_STYLE = {"description_width": "120px"}


def choices(model, param):
    """The values offered for `param`: the model's own, or every catalog value for a model we do not know."""
    if model is not None:
        return model.allowed(param)
    return tuple(dict.fromkeys(v for m in MODELS.values() for v in m.allowed(param)))


def max_partial_images(model):
    """The most partial images `model` streams (the catalog's largest for a model we do not know)."""
    return model.max_partial_images if model else max(m.max_partial_images for m in MODELS.values())


def unsupported(model, param):
    """Why `param` cannot be set for `model` (the tooltip of the disabled control), or None."""
    if model is None:
        return None
    if param in ("stream", "partial_images"):
        supported = model.streaming
    elif param == "output_compression":
        supported = bool(model.output_formats)
    else:
        supported = bool(model.allowed(param))
    return None if supported else f"{model.name} does not support {param}"


def _whole(text):
    """A text field's number: an int when it is one, None when empty, else the text (validation names it)."""
    text = text.strip()
    try:
        return int(text) if text else None
    except ValueError:
        return text


def params_from(values, defaults):
    """The parameters the widget values set (by name); a widget left at its default sets nothing (None)."""
    params = {}
    for p in for_operation("generate"):
        value = values[p.name]
        if isinstance(value, str):
            value = value.strip()
            value = _whole(value) if p.type is int and value else value or None
        if p.name == "n" or p.type is bool:  # these widgets always hold a value: the default one sends nothing
            value = None if value == (defaults.get(p.name) or (1 if p.name == "n" else False)) else value
        params[p.name] = value
    return params


def problems_line(error):
    """A ValidationError in one line, in the words %%imagegen uses."""
    return "; ".join(p.message for p in error.problems)


def cell_text(request, defaults=None, chosen=None):
    """The `%%imagegen` cell that sends exactly `request` under config `defaults`: what differs as flags, an
    edit's inputs as `--image FILE` (from the history), `--no-expand` when the prompt has `{` or `$` (so
    nothing in it is filled or run), the prompt as body. `chosen`: the values as the user chose them, written
    instead of what they came to (`--size 16:9`, not the size it picked; `--resolution`, which no request
    carries). ValueError when an input has no file to name."""
    defaults, chosen = defaults or {}, chosen or {}
    flags = ["%%imagegen"]
    for p in for_operation(getattr(request, "operation", "generate")):
        value = chosen[p.name] if chosen.get(p.name) is not None else getattr(request, p.name, None)
        if value is None or (value == defaults.get(p.name) and p.name != "model"):  # the model is always named
            continue
        if p.type is bool:
            flags.append(p.flag if value else f"--no-{p.flag[2:]}")
        else:
            flags += [p.flag, shlex.quote(str(value))]
    for img in getattr(request, "images", ()):
        if img.file is None:
            raise ValueError("an input image is not in the history (it could not be stored): no cell can name it")
        flags += ["--image", shlex.quote(img.file)]
    if "{" in request.prompt or "$" in request.prompt:
        flags.append("--no-expand")
    return " ".join(flags) + "\n" + request.prompt


@dataclass
class Run:
    """One generation of the panel: the request, where it went, what came back and how it ended."""

    number: int
    request: object
    endpoint: object
    defaults: dict  # the config defaults it was made under
    chosen: dict | None = None  # the parameters as chosen in the panel (an aspect, a resolution)
    result: ImageResult | None = None
    elapsed: float = 0.0
    error: str | None = None  # one line when the run did not complete (cancelled, API or transport error)
    notes: list = field(default_factory=list)  # the run path's advice (warnings), each one line
    exception: BaseException | None = None  # an unexpected error (a bug or an OS error), kept for a look

    @property
    def images(self):
        """The PIL images that arrived (partials included when the run did not complete)."""
        return list(self.result or [])

    def cell_text(self):
        """The `%%imagegen` cell that repeats this run (under the same `%config`)."""
        return cell_text(self.request, self.defaults, self.chosen)


def run_caption(run):
    """The line above a run in the gallery: model, size, elapsed, usage, and how it ended."""
    req = run.request
    parts = [req.model, req.size or "auto", f"{run.elapsed:.1f} s"]
    tokens = describe_tokens(run.result.usage if run.result else None)
    if tokens:
        parts.append(tokens)
    if run.endpoint.offline:
        parts.append("offline preview")
    if run.error:
        parts.append(run.error)
    return " · ".join(parts)


def image_caption(img):
    """The line under one image: pixel size and format, marked when it is a partial."""
    width, height = img.image.size
    return f"{width}x{height} {img.format}" + (" · partial" if img.partial else "")


def ending(run):
    """The status line once a run is over."""
    count = len(run.images)
    kept = f"{count} image{'s' if count != 1 else ''}"
    if run.error is None:
        cached = " (cached)" if run.result is not None and run.result.cached else ""
        notes = "".join(f" · warning: {note}" for note in run.notes)
        return f"done: {kept}{cached} in {run.elapsed:.1f} s{notes}"
    partial = " (partial)" if run.result is not None and run.result.partial else ""
    return f"{run.error}; kept {kept}{partial} after {run.elapsed:.1f} s"


def _html_line(text, tone):
    return f'<span style="color:{tone}">{html.escape(text)}</span>' if text else ""


class Slot:
    """One image of a run: a thumbnail updated in place (placeholder → partials → final), its caption, a toggle."""

    def __init__(self, number, index, size):
        self.stem = f"imagegen-{number}-{index + 1}"
        self.image = None
        self.picture = W.Image(
            value=placeholder_png(size or "1024x1024", [f"image {index + 1}", "waiting…"]),
            format="png",
            layout=W.Layout(width="100%", height="auto", max_height=THUMB, object_fit="contain"),
        )
        self.picture.add_class("imagemagic-placeholder")
        self.caption = W.Label("")
        self.select = W.ToggleButton(
            description="select",
            icon="check",
            disabled=True,
            tooltip="select this image for Save",
            layout=W.Layout(width="auto"),
        )
        self.use = W.Button(
            description="Use as input",
            icon="pencil",
            disabled=True,
            tooltip="add this image to the inputs: the next Generate edits them",
            layout=W.Layout(width="auto"),
        )
        self.refine = W.Button(
            description="Refine",
            icon="magic",
            disabled=True,
            tooltip="continue from this image: the next Generate refines it as the prompt says (a chain step)",
            layout=W.Layout(width="auto"),
        )
        self.box = W.VBox(
            [self.picture, self.caption, W.HBox([self.select, self.use, self.refine])],
            layout=W.Layout(width=THUMB, margin="0 12px 8px 0"),
        )

    def show(self, img):
        """Show a partial or final image's original bytes in place."""
        self.picture.remove_class("imagemagic-placeholder" if self.image is None else "imagemagic-partial")
        self.picture.add_class("imagemagic-partial" if img.partial else "imagemagic-final")
        self.picture.format = "svg+xml" if img.format == "svg" else img.format  # the widget's MIME is image/<format>
        self.picture.value = img.data
        self.image = img
        self.caption.value = image_caption(img)
        self.select.disabled = False
        self.use.disabled = img.partial
        self.refine.disabled = img.partial


class RunCard:
    """The gallery entry of one run: a header line, then its images side by side."""

    def __init__(self, number, request, on_use=None, on_refine=None):
        self.number = number
        self.size = request.size
        self.on_use = on_use  # called with an image when its "Use as input" is pressed
        self.on_refine = on_refine  # called with an image when its "Refine" is pressed
        self.slots = []
        prompt = request.prompt if len(request.prompt) <= 120 else request.prompt[:119] + "…"
        inputs = len(getattr(request, "images", ()))
        edit = f" <i>(edit of {inputs} image{'s' if inputs != 1 else ''})</i>" if inputs else ""
        self.title = f"<b>#{number}</b> {html.escape(prompt)}{edit}"
        self.header = W.HTML(f"{self.title}<br>{html.escape(request.model)} · generating…")
        self.images = W.HBox(layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.box = W.VBox([self.header, self.images], layout=W.Layout(border_top="1px solid #ddd", padding="6px 0 0 0"))
        for index in range(request.count):
            self.slot(index)

    def slot(self, index):
        """The slot of image `index`, added (with its handlers) when a server sends more images than asked."""
        while len(self.slots) <= index:
            slot = Slot(self.number, len(self.slots), self.size)
            if self.on_use:
                slot.use.on_click(lambda _, slot=slot: self.on_use(slot.image))
            if self.on_refine:
                slot.refine.on_click(lambda _, slot=slot: self.on_refine(slot.image))
            self.slots.append(slot)
            self.images.children = (*self.images.children, slot.box)
        return self.slots[index]

    def finish(self, run):
        """Caption the run once it is over."""
        tone = "#b00020" if run.error else "inherit"
        self.header.value = f"{self.title}<br>{_html_line(run_caption(run), tone)}"

    def selected(self):
        """(stem, GeneratedImage) of each selected image."""
        return [(s.stem, s.image) for s in self.slots if s.select.value and s.image is not None]


def _widget(p, defaults):
    """The widget for one parameter, by its kind; a widget left at its default sends nothing."""
    common = {"description": p.name.replace("_", " "), "layout": W.Layout(width="auto"), "style": LABEL_STYLE}
    default = defaults.get(p.name)
    hint = "default" if default is None else f"default ({default})"
    if p.name == "model":
        return W.Combobox(options=tuple(MODELS), value=default or DEFAULT_MODEL, ensure_option=False, **common)
    if p.choices == "sizes":
        return W.Combobox(placeholder=hint, ensure_option=False, **common)
    if p.choices or p.name == "partial_images":
        return W.Dropdown(options=[(hint, None)], **common)
    if p.type is bool:
        return W.Checkbox(value=bool(default), indent=True, **common)
    if p.name == "n":
        return W.BoundedIntText(value=default or 1, min=1, max=10, **common)
    return W.Text(placeholder=hint, **common)


def _controls(defaults):
    """The prompt and one widget per parameter, by name, each with the parameter's help as tooltip."""
    prompt = W.Textarea(
        description="prompt", placeholder="What the image should show", rows=3,
        layout=W.Layout(width="auto"), style=LABEL_STYLE,
        tooltip="What the image should show; sent as the prompt.",
    )  # fmt: skip
    controls = {"prompt": prompt}
    for p in for_operation("generate"):
        controls[p.name] = _widget(p, defaults)
        controls[p.name].tooltip = help_for(p.name)
    return controls


class Panel(W.VBox):
    """The control panel, a VBox: `images` are the latest run's PIL images, `history` every run."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        offline: bool | None = None,
        folder: str | os.PathLike[str] | None = None,
        session: Session | None = None,
    ) -> None:
        super().__init__(layout=W.Layout(width="100%", max_width="1100px"))
        self.settings = (settings or Settings.current()).but(api_key=api_key, base_url=base_url, offline=offline)
        self.session = session
        self.history: list[Run] = []
        self.task: asyncio.Task[Run] | None = None  # the latest generation; awaiting it gives its Run
        self._call: asyncio.Task[ImageResult] | None = None  # the running Call's task, which Cancel cancels
        self.cards: list[RunCard] = []
        self.controls = _controls(self.settings.defaults)
        button = W.Layout(width="130px", flex="0 0 auto")
        self.generate_button = W.Button(description="Generate", button_style="primary", icon="play", layout=button)
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True, layout=button)
        self.fresh = W.Checkbox(
            value=False,
            description="fresh",
            indent=False,
            layout=W.Layout(width="70px", flex="0 0 auto"),
            tooltip="generate anew even when an identical request's images are stored (the cache setting applies)",
        )
        self.copy_button = W.Button(
            description="Copy as cell",
            icon="copy",
            layout=button,
            tooltip="the %%imagegen cell that sends this request",
        )
        self.save_button = W.Button(
            description="Save selected",
            icon="save",
            layout=button,
            tooltip="write the selected images' original bytes into the folder",
        )
        self.folder = W.Text(
            value=str(Path(folder or os.getcwd())),
            description="folder",
            layout=W.Layout(flex="1 1 auto"),
            style=LABEL_STYLE,
        )
        self.hint = W.HTML()
        self.status = W.HTML(layout=W.Layout(flex="1 1 auto", margin="0 0 0 8px"))
        self.cell = W.Textarea(rows=4, layout=W.Layout(width="auto", display="none"))
        self.gallery = W.VBox()
        self.inputs: list[GeneratedImage] = []  # GeneratedImages the next Generate edits (none: it generates)
        # the GeneratedImage the next Generate refines (a step of its chain), or None
        self.refining: GeneratedImage | None = None
        self.input_label = W.HTML()
        self.input_thumbs = W.HBox()
        self.clear_inputs_button = W.Button(description="Clear inputs", icon="times", layout=W.Layout(width="auto"))
        self.input_strip = W.HBox(
            [self.input_label, self.input_thumbs, self.clear_inputs_button],
            layout=W.Layout(align_items="center", display="none"),
        )
        self.input_strip.add_class("imagemagic-inputs")
        self._static = WidgetDisplay(self, lambda: (repr(self), gallery_still(self.history)))
        self._compose()
        self._wire()
        self._apply_model()
        self._say("ready")

    def _compose(self):
        grid = W.GridBox(
            [control for name, control in self.controls.items() if name != "prompt"],
            layout=W.Layout(
                grid_template_columns="repeat(auto-fill, minmax(240px, 1fr))", grid_gap="2px 12px", width="100%"
            ),
        )
        buttons = W.HBox(
            [self.generate_button, self.fresh, self.cancel_button, self.copy_button, self.status],
            layout=W.Layout(align_items="center"),
        )
        save = W.HBox([self.folder, self.save_button], layout=W.Layout(width="100%"))
        self.children = [
            self.controls["prompt"],
            self.input_strip,
            grid,
            self.hint,
            buttons,
            save,
            self.cell,
            self.gallery,
        ]
        self.add_class("imagemagic-panel")

    def _wire(self):
        """Every handler of the panel, in one place."""
        self.controls["model"].observe(lambda _: self._apply_model(), names="value")
        for control in self.controls.values():
            control.observe(lambda _: self._check(), names="value")
        self.generate_button.on_click(lambda _: self.generate())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.copy_button.on_click(lambda _: self.copy_as_cell())
        self.save_button.on_click(lambda _: self.save())
        self.clear_inputs_button.on_click(lambda _: self.clear_inputs())

    def use_as_input(self, img: GeneratedImage) -> None:
        """Add a final image to the inputs (shown in the strip above the parameters): Generate now edits."""
        self.inputs.append(img)
        self._show_inputs()

    def refine_from(self, img: GeneratedImage) -> None:
        """Make a final image the one Generate refines (shown in the strip): the prompt says what to change."""
        self.inputs.clear()
        self.refining = img
        self._show_inputs()

    def clear_inputs(self) -> None:
        """Drop the inputs and the image being refined: Generate generates again."""
        self.inputs.clear()
        self.refining = None
        self._show_inputs()

    def _show_inputs(self):
        count = len(self.inputs)
        self.input_label.value = f"<b>inputs</b> ({count}): Generate edits {'it' if count == 1 else 'them'}"
        if self.refining is not None:
            self.input_label.value = f"<b>refining</b> over the {self.settings.api} API: Generate continues it"
        shown = [self.refining] if self.refining is not None else self.inputs
        self.input_thumbs.children = [
            W.Image(value=img.data, format=img.format, layout=W.Layout(width="64px", height="auto")) for img in shown
        ]
        self.input_strip.layout.display = None if shown else "none"
        self._check()

    def _operation(self):
        """prepare()'s arguments for what Generate sends: an edit of the inputs, or a generation."""
        return {"operation": "edit", "image": list(self.inputs)} if self.inputs else {}

    def __repr__(self):
        return f"<imagemagic panel: {len(self.history)} run{'s' if len(self.history) != 1 else ''}>"

    def _repr_mimebundle_(self, **kwargs):
        return self._static.bundle()

    def _ipython_display_(self):
        """The widget view, with the gallery as a PNG still beside it for front ends that run no widgets."""
        self._static.show()

    @property
    def images(self) -> list[Image.Image]:
        """The PIL images of the latest run."""
        return self.history[-1].images if self.history else []

    def values(self) -> dict[str, Any]:
        """The widgets' values by name (the prompt and each parameter)."""
        return {name: control.value for name, control in self.controls.items()}

    def params(self) -> dict[str, Any]:
        """The parameters the widgets set (None: left at the default; with inputs, only those set)."""
        params = params_from(self.values(), self.settings.defaults)
        given = self.inputs or self.refining is not None  # an edit or a step: what is not set stays as it was
        return {k: v for k, v in params.items() if v is not None} if given else params

    def request(self) -> ImageRequest | ResponsesRequest:
        """The request the widgets (and inputs) describe under the settings' defaults (not validated)."""
        return request_for(self.values()["prompt"].strip(), self.params(), settings=self.settings, **self._operation())

    def cell_text(self) -> str:
        """The `%%imagegen` cell that sends the same request under the same `%config`."""
        return cell_text(self.request(), self.settings.defaults, self.params())

    def _apply_model(self):
        """Offer what the chosen model takes; disable, with the reason as tooltip, what it does not."""
        model = lookup((self.controls["model"].value or "").strip())
        self.controls["size"].options = offered_sizes(model)
        for name in CHOICES:
            self._offer(name, choices(model, name))
        self._offer("partial_images", range(max_partial_images(model) + 1))
        for name in (*CHOICES, "stream", "partial_images", "output_compression"):
            control, why = self.controls[name], unsupported(model, name)
            control.disabled = why is not None
            control.tooltip = why or help_for(name)
            if why:
                control.value = {"stream": False, "output_compression": ""}.get(name)

    def _offer(self, name, values):
        """Offer `values` (and the default) in a dropdown, keeping its value, even one the model refuses,
        so the hint says why."""
        control = self.controls[name]
        options = [control.options[0], *((str(v), v) for v in values)]
        value = control.value
        if value not in [v for _, v in options]:
            options.append((str(value), value))
        control.options = options
        control.value = value

    def _plan(self):
        """(the Plan Generate would send, prepared as every front end prepares one, or None; one line of its
        problems or "")."""
        prompt = self.values()["prompt"].strip()
        try:
            if self.refining is not None:
                return plan_refinement(self.refining, prompt, self.params(), settings=self.settings), ""
            return prepare(prompt, self.params(), settings=self.settings, **self._operation()), ""
        except ValidationError as exc:  # a rule, the capability layer, a key that cannot be sent (CredentialError)
            return None, problems_line(exc)

    def _check(self):
        """Explain inline, before Generate is pressed, what is wrong with the settings (or what will be assumed)."""
        plan, line = self._plan()
        warnings = "; ".join(plan.warnings) if plan is not None else ""
        self.hint.value = _html_line(line, "#b00020") or _html_line(warnings, "#8a6d00")

    def _say(self, text, tone="inherit"):
        self.status.value = _html_line(text, tone)

    def generate(self) -> asyncio.Task[Run] | None:
        """Start a generation as a task on the running event loop and return it (None if it cannot start)."""
        plan, line = self._plan()
        if plan is None:
            self._say(line, "#b00020")
            return None
        if self._call is not None:
            return None  # one generation at a time: Generate is disabled while one runs
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._say("the panel generates on a running event loop: use it in a Jupyter kernel", "#b00020")
            return None
        run = Run(len(self.cards) + 1, plan.request, plan.endpoint, self.settings.defaults, chosen=self.params())
        card = RunCard(run.number, plan.request, on_use=self.use_as_input, on_refine=self.refine_from)
        self.cards.append(card)
        self.gallery.children = (card.box, *self.gallery.children)
        notes: dict[str, str] = {}
        path = RunPath(
            [plan],
            session=self.session,
            cache=use_cache(self.settings, self.fresh.value),
            say=run.notes.append,
            notify=lambda line: notes.update(status=line),
        )
        call = path.call(plan, on_event=lambda event: self._on_event(card, notes, event))
        self._busy(True)
        self._say("generating · 0.0 s")
        self._call = loop.create_task(path.one(call=call))
        self.task = loop.create_task(self._run(run, card, call, self._call, notes))
        return self.task

    def cancel(self) -> None:
        """Cancel the running generation: the connection is closed and what arrived is kept."""
        if self._call is not None:
            self._call.cancel()

    async def _run(self, run, card, call, call_task, notes):
        """Await the call (the task Cancel cancels), then record the run, whatever its end: an unexpected
        error is shown in the panel and kept on the run (`run.exception`), never left unretrieved."""
        started = time.monotonic()
        ticker = asyncio.ensure_future(self._tick(started, notes))
        try:
            run.result = await call_task
        except asyncio.CancelledError:
            run.result, run.error = call.partial(), "cancelled: the connection was closed"
        except ContentPolicyViolationError as exc:  # said as a refusal: nothing made, nothing billed
            run.result, run.error = exc.partial, RefusalCard(exc).line
        except ImageMagicError as exc:
            run.result, run.error = exc.partial, str(exc)
        except Exception as exc:  # a bug or an OS error: say so in the panel and keep what arrived
            run.result, run.error, run.exception = call.partial(), f"failed: {type(exc).__name__}: {exc}", exc
        finally:
            ticker.cancel()
            self._call = None
            run.elapsed = time.monotonic() - started
            self.history.append(run)
            card.finish(run)
            if call.plan.parent is not None and run.result and not run.result.partial:
                self.refine_from(run.result.images[0])  # the conversation goes on from the newest step
            self._busy(False)
            self._say(ending(run), "#b00020" if run.error else "inherit")
            self._static.refresh()
        return run

    def _on_event(self, card, notes, event):
        if isinstance(event, Status):
            notes["status"] = event.message
            return
        card.slot(event.index).show(event)
        number = f" {event.partial_index + 1}" if isinstance(event.partial_index, int) else ""
        what = f"partial{number}" if event.partial else "final"
        notes["status"] = f"image {event.index + 1}: {what}"

    async def _tick(self, started, notes):
        while True:
            note = notes.get("status")
            self._say(f"generating · {time.monotonic() - started:.1f} s" + (f" · {note}" if note else ""))
            await asyncio.sleep(TICK_SECONDS)

    def _busy(self, busy):
        self.generate_button.disabled = busy
        self.cancel_button.disabled = not busy

    def copy_as_cell(self) -> str:
        """Show the equivalent `%%imagegen` cell, ready to copy, and return its text ("" when it cannot be made)."""
        try:
            self.cell.value = self.cell_text()
        except (ValueError, ValidationError) as exc:
            self._say(f"no cell for this request: {exc}", "#b00020")
            return ""
        self.cell.layout.display = None
        return self.cell.value

    def save(self) -> list[Path]:
        """Write the selected images into the folder; report the paths and return them."""
        named = [pair for card in self.cards for pair in card.selected()]
        if not named:
            self._say("nothing selected: press select under the images to save", "#b00020")
            return []
        try:
            paths = save_images(named, self.folder.value)
        except OSError as exc:
            self._say(str(exc), "#b00020")
            return []
        self._say("saved " + ", ".join(map(str, paths)))
        return paths


def panel(
    *,
    settings: Settings | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool | None = None,
    folder: str | os.PathLike[str] | None = None,
) -> Panel:
    """The control panel: set parameters, Generate without blocking the kernel, keep the good images.

    Defaults come from `%config ImageGenMagics` (or `settings`); without a key or base URL it uses
    the built-in offline preview server; Save writes into `folder` (default: the working directory).
    """
    return Panel(settings=settings, api_key=api_key, base_url=base_url, offline=offline, folder=folder)
