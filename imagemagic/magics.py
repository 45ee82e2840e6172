"""`%%imagegen` / `%imagegen` and their configuration (`%config ImageGenMagics.<trait> = ...`).

Thin on purpose: flags and config become an ImageRequest, the core validates and sends it, the
display shows it. Problems surface as one UsageError line; nothing is sent for bad input.
Heavy libraries (httpx, PIL, uvicorn) load on first use, not at `%load_ext`.
"""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, CInt, Dict, Enum, Float, TraitError, Unicode, validate

from .catalog import DEFAULT_MODEL
from .flags import FRESH_FLAG, PASSED, REQUEST_FLAGS, parse_extra, request_values


def request_flags(func):
    """Decorate a magic with the shared request flags (see flags.py), in table order."""
    for names, options in reversed(REQUEST_FLAGS):
        func = argument(*names, **options)(func)
    return func


@magics_class
class ImageGenMagics(Magics):
    """Text-to-image generation in notebooks. Defaults set here apply to every %%imagegen cell."""

    model = Unicode(DEFAULT_MODEL, help="Model (or Azure deployment) used when a cell gives no --model.").tag(
        config=True
    )
    size = Unicode(None, allow_none=True, help="Default size, WIDTHxHEIGHT or auto; None sends no size.").tag(
        config=True
    )
    quality = Unicode(
        None, allow_none=True, help="Default quality (low, medium, high, auto; standard or hd for dall-e)."
    ).tag(config=True)
    n = CInt(None, allow_none=True, help="Default number of images per cell (1-10).").tag(config=True)
    stream = Bool(False, help="Stream by default, showing partial images as they arrive.").tag(config=True)
    partial_images = CInt(None, allow_none=True, help="Default number of partial images when streaming (0-3).").tag(
        config=True
    )
    output_format = Unicode(None, allow_none=True, help="Default output format: png, jpeg or webp.").tag(config=True)
    base_url = Unicode(
        None, allow_none=True, help="Base URL of an OpenAI-compatible API, including /v1; overrides OPENAI_BASE_URL."
    ).tag(config=True)
    offline = Bool(False, help="Always use the built-in offline preview server, even when a key is set.").tag(
        config=True
    )
    timeout = Float(
        600.0, help="Seconds to wait for an answer (generations can take minutes); connecting waits at most 10 s."
    ).tag(config=True)
    max_retries = CInt(2, help="Retries for rate limits, server errors and failed connections.").tag(config=True)
    display = Enum(
        ("auto", "inline", "files"),
        "auto",
        help="inline: images in the notebook; files: save and print paths; auto: inline unless in a terminal.",
    ).tag(config=True)
    prices = Dict(
        help="Price overrides in USD per 1M tokens, e.g. {'gpt-image-2': {'text_input': 5, 'image_input': 8, 'image_output': 30}}."
    ).tag(config=True)
    max_concurrency = CInt(4, help="Requests in flight at once when -n is fanned out (streams, dall-e-3).").tag(
        config=True
    )
    cache = Bool(
        True,
        help="Re-running a cell with an identical request (prompt, parameters, model, endpoint) shows its stored images instead of paying again; --fresh overrides.",
    ).tag(config=True)
    history_limit_mb = Float(
        1024.0, help="Size cap of the image history in MiB; the oldest images are deleted first."
    ).tag(config=True)

    @validate("size", "quality", "n", "partial_images", "output_format")
    def _check_default(self, proposal):
        """A default must suit the configured model, judged by the same rules (and words) as a cell."""
        name, value = proposal["trait"].name, proposal["value"]
        if value is not None:
            from .request import ImageRequest

            request = ImageRequest(
                prompt="default", model=self.model, stream=name == "partial_images" or None, **{name: value}
            )
            messages = [p.message for p in request.problems() if p.param == name]
            if messages:
                raise TraitError("; ".join(messages))
        return value

    @validate("timeout")
    def _check_timeout(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError("timeout must be a positive number of seconds")
        return proposal["value"]

    @magic_arguments()
    @request_flags
    @argument(*FRESH_FLAG[0], **FRESH_FLAG[1])
    @argument("--out", metavar="NAME", help="Variable to bind the images to (a list of PIL images).")
    @argument(
        "--models", action="store_true", help="List the known models with their sizes, options and lifecycle, and stop."
    )
    @argument("prompt", nargs="*", help="Line magic only: the prompt. In a cell, the prompt is the cell body.")
    @line_cell_magic
    def imagegen(self, line, cell=None):
        """Generate images from the cell's text (or the rest of the line) and show them inline.

        %%imagegen --size 1536x1024 --stream --partial-images 2 --out hero
        A lighthouse on a cliff at dawn, watercolor

        %imagegen --size 1024x1024 a red kite
        """
        try:
            args = parse_argstring(self.imagegen, line)
        except ValueError as exc:  # shlex: an unbalanced quote
            raise UsageError(f"could not read the line: {exc} (quote the prompt or put it in the cell body)") from None
        if args.models:
            from .catalog import catalog_text

            print(catalog_text())
            return
        if cell is not None and args.prompt:
            raise UsageError(
                f"in %%imagegen the prompt is the cell body; the line takes only --flags (found {' '.join(args.prompt)!r})"
            )
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out {args.out!r} is not a valid variable name")
        prompt = cell.strip() if cell is not None else " ".join(args.prompt)
        request = self._request(args, prompt)
        problems = request.problems()
        if problems:
            raise UsageError("; ".join(p.message for p in problems))
        from .runner import run_in_notebook

        run_in_notebook(self, request, args)

    def _request(self, args, prompt):
        from .request import ImageRequest

        config = {name: getattr(self, name) for name in PASSED if self.has_trait(name)}
        config["stream"] = config["stream"] or None
        try:
            extra = parse_extra(args.extra)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return ImageRequest(prompt=prompt, extra_body=extra, **request_values(args, config))

    @line_magic
    def imagegen_usage(self, line):
        """Show this session's token usage per model, with estimated cost where prices are known."""
        from .usage import SESSION

        print(SESSION.report())

    @magic_arguments()
    @argument("-n", type=int, default=10, help="How many recent images to show (default 10).")
    @line_magic
    def imagegen_history(self, line):
        """Show the most recent generated images from the history on disk, newest first (thumbnails in a notebook)."""
        from .display import is_notebook
        from .store import HistoryStore

        entries = HistoryStore().entries(parse_argstring(self.imagegen_history, line).n)
        if not entries:
            print("no images in the history yet")
            return
        from IPython.display import display

        for entry in entries:
            if self.display == "inline" or (self.display == "auto" and is_notebook(self.shell)):
                display({"image/png": entry.thumbnail_png(), "text/plain": entry.line()}, raw=True)
            else:
                print(entry.line())

    @line_magic
    def imagegen_panel(self, line):
        """Show the control panel: every parameter at hand, generation that never blocks the kernel."""
        from .controlpanel import panel

        return panel(base_url=self.base_url or None, offline=self.offline)
