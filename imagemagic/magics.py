"""`%%imagegen` / `%imagegen` and their configuration (`%config ImageGenMagics.<trait> = ...`).

Thin on purpose: the traits are derived from the parameter table (one default per parameter) and
from `Settings` (the options), and only fill a Settings; flags and the cell become a Plan through
the one preparation path (settings.prepare); runner.py shows it. Problems surface as one
UsageError line; nothing is sent for bad input. Heavy libraries (httpx, PIL, uvicorn) load on
first use, not at `%load_ext`.
"""

from __future__ import annotations

import sys
import typing

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from .catalog import DEFAULT_MODEL, lookup
from .flags import (
    edit_only_flags,
    edit_only_given,
    given_values,
    grid_axes,
    parse_extra,
    request_flags,
    request_values,
    setting_values,
)
from .params import NAMES, PARAMS
from .settings import Settings, option_problem, options


class _Number(Float):
    """A number; True is not one (traitlets' Float takes a bool as 1.0)."""

    def validate(self, obj, value):
        if isinstance(value, bool):
            self.error(obj, value)
        return super().validate(obj, value)


_TRAITS = {bool: Bool, int: Int, float: _Number, str: Unicode, dict: Dict}  # none converts: '3' or 2.5 is no 3


OPTION_NAMES = tuple(f.name for f in options())


def _trait(kind, default, help, choices=None):
    if choices:
        return Enum(choices, default, help=help).tag(config=True)
    if kind is dict:
        return Dict(help=help).tag(config=True)
    return _TRAITS[kind](default, allow_none=default is None, help=help).tag(config=True)


def _config_traits():
    """One trait per parameter (its default; None sends nothing) and per Settings option."""
    traits = {
        p.name: _trait(p.type, DEFAULT_MODEL if p.name == "model" else None, f"Default {p.name}: {p.help}")
        for p in PARAMS
    }
    hints = typing.get_type_hints(Settings)
    for f in options():
        kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
        traits[f.name] = _trait(kind, f.default, f.metadata["help"], f.metadata.get("choices"))
    return traits


class ImageGenDefaults(Configurable):
    """The configurable defaults of %%imagegen (see ImageGenMagics)."""

    locals().update(_config_traits())  # the traits, derived from the table and Settings, as class attributes


def with_request_flags(func):
    """Decorate a magic with the request flags: the parameters of generations and of edits (from the table),
    --extra, --offline, and --image/--mask, which make the cell an edit."""
    flags = (*request_flags("generate"), *edit_only_flags(), *INPUT_FLAGS)
    for names, options_ in reversed(flags):
        func = argument(*names, **options_)(func)
    return func


INPUT_FLAGS = (
    (
        ("--image",),
        {
            "action": "append",
            "metavar": "EXPR",
            "help": "Edit this image instead of generating: a variable or expression (a PIL image, an ImageResult, "
            "one of its images, a path, bytes, a history entry) or a file name; repeatable, up to 16.",
        },
    ),
    (
        ("--mask",),
        {
            "metavar": "EXPR",
            "help": "With --image: a PNG mask (same kinds) whose transparent pixels mark what to edit "
            "(imagemagic.mask_from makes one).",
        },
    ),
)


def _parse(magic, line, cell):
    """The magic's arguments; a line argparse cannot read, a prompt on a cell's line or a bad --out is a
    UsageError."""
    try:
        args = parse_argstring(magic, line)
    except ValueError as exc:  # shlex: an unbalanced quote
        raise UsageError(f"could not read the line: {exc} (quote the prompt or put it in the cell body)") from exc
    if cell is not None and args.prompt:
        raise UsageError(
            f"in %%imagegen the prompt is the cell body; the line takes only --flags (found {' '.join(args.prompt)!r})"
        )
    if args.out is not None and not args.out.isidentifier():
        raise UsageError(f"--out {args.out!r} is not a valid variable name")
    return args


def _edit_inputs(shell, args):
    """prepare()'s edit arguments from --image (each a value or a list of them) and --mask; {} for a generation."""
    if args.image:
        images = []
        for text in args.image:
            value = _input(shell, "--image", text)
            images += value if type(value) in (list, tuple) else [value]  # a list, not an ImageResult
        mask = _input(shell, "--mask", args.mask) if args.mask else None
        return {"operation": "edit", "image": images, "mask": mask}
    if args.mask or edit_only_given(args):
        flags = ", ".join((["--mask"] if args.mask else []) + edit_only_given(args))
        raise UsageError(f"{flags} applies to edits only: add --image NAME (the image to edit)")
    return {}


def _input(shell, flag, text):
    """The value `--image`/`--mask` TEXT names: an expression in the user's namespace, else an existing file."""
    try:
        return shell.ev(text)
    except Exception as exc:  # whatever the user's expression raises: it may still be a file name
        from pathlib import Path

        if Path(text).expanduser().is_file():
            return text
        raise UsageError(f"{flag} {text}: {type(exc).__name__}: {exc} (and no such file)") from exc


@magics_class
class ImageGenMagics(Magics, ImageGenDefaults):
    """Text-to-image generation in notebooks. Defaults set here apply to every %%imagegen cell, the
    panel and imagemagic.generate() in this kernel."""

    @validate(*NAMES)
    def _check_default(self, proposal):
        """A default must suit the configured model, judged by the same rules (and words) as a cell."""
        problem = self._default_problem(proposal["trait"].name, proposal["value"])
        if problem:
            raise TraitError(problem)
        return proposal["value"]

    def _default_problem(self, name, value):
        if value is None:
            return None
        from .request import ImageRequest
        from .sizes import apply as apply_sizes

        current = {n: getattr(self, n) for n in NAMES}  # judged with the other defaults (jpeg, then compression)
        values = {**current, name: value, "stream": True if name == "partial_images" else current["stream"]}
        values, chosen = apply_sizes(values, lookup(values["model"]) if isinstance(values["model"], str) else None)
        messages = [chosen.problem] if chosen.problem and chosen.param == name else []
        messages += [p.message for p in ImageRequest(prompt="default", **values).problems() if p.param == name]
        return "; ".join(messages) or None

    @validate(*OPTION_NAMES)
    def _check_option(self, proposal):
        """An option is judged as Settings() judges it (settings.option_problem)."""
        problem = option_problem(proposal["trait"].name, proposal["value"])
        if problem:
            raise TraitError(problem)
        return proposal["value"]

    def update_config(self, config):
        """Apply `%config` values; a bad one is refused with one plain line and nothing changes.

        (Left to IPython, the refusal would print behind a bare 'ERROR:root:' logging prefix.)
        """
        try:
            super().update_config(config)
        except (TraitError, ValueError, OverflowError) as exc:  # traitlets refuses a wrong type in its own words,
            # or fails to write the value in them (5,000 digits): say ours
            given = [config[c.__name__] for c in type(self).mro() if c.__name__ in config]
            ours = [self._problem(name, value) for section in given for name, value in section.items()]
            print(f"UsageError: {next(filter(None, ours), exc)} (ImageGenMagics keeps its settings)", file=sys.stderr)

    def _problem(self, name, value):
        """The line refusing `name = value` in the words every front end uses, or None."""
        if name in NAMES:
            return self._default_problem(name, value)
        return option_problem(name, value) if name in OPTION_NAMES else None

    def settings(self) -> Settings:
        """The Settings these traits describe."""
        return Settings(
            defaults={name: getattr(self, name) for name in NAMES},
            **{f.name: getattr(self, f.name) for f in options()},
        )

    @magic_arguments()
    @with_request_flags
    @argument(
        "--fresh",
        action="store_true",
        help="Generate anew even when an identical request's images are stored (no cache).",
    )
    @argument(
        "--out", metavar="NAME", help="Variable to bind the images to (a list of PIL images; a Sweep with --grid)."
    )
    @argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2,…",
        help="A grid axis: a request parameter or a variable the template uses, and its values (or NAME=variable, "
        "a list in the namespace); repeatable, the run is the product. Shows a contact sheet.",
    )
    @argument(
        "--no-expand",
        action="store_true",
        help="Send the prompt as written: no {name}, {expression} or $name filled from the namespace.",
    )
    @argument(
        "--continue",
        dest="continue_from",
        nargs="?",
        const="",
        metavar="NAME",
        help="Refine an earlier result (a variable: a result, one of its images, a history entry; bare: the last "
        "result of this kernel) as the cell says: an edit of it (api images) or the conversation's next turn "
        "(api responses). The history records the chain.",
    )
    @argument("--limit", type=int, metavar="N", help="Allow a --grid run of up to N images (see sweep_limit).")
    @argument("--models", action="store_true", help="List the known models with their sizes and options, and stop.")
    @argument(
        "--remote",
        action="store_true",
        help="With --models: also compare the catalog with what the endpoint's /v1/models serves (cached a day).",
    )
    @argument("prompt", nargs="*", help="Line magic only: the prompt. In a cell, the prompt is the cell body.")
    @line_cell_magic
    def imagegen(self, line, cell=None):
        """Generate images from the cell's text (or the rest of the line) and show them inline;
        with --image, edit those images instead.

        %%imagegen --size 1536x1024 --stream --partial-images 2 --out hero
        A lighthouse on a cliff at dawn, watercolor

        %%imagegen --image hero --mask sky_mask --out night
        The same lighthouse at night, stars above

        %imagegen --size 1024x1024 a red kite
        """
        args = _parse(self.imagegen, line, cell)
        if args.models:
            return self._models(args.remote)
        from .runner import show_many, show_one

        path, variants = self._run_path(args, cell.strip() if cell is not None else " ".join(args.prompt))
        if variants is not None:
            return show_many(self.shell, path, variants, args)
        return show_one(self.shell, path, args)

    def _models(self, remote):
        from .catalog import catalog_text

        print(catalog_text())
        if remote:
            self._remote_models()

    def _run_path(self, args, prompt):
        """The cell as a RunPath (and its variants with --grid); bad input is one UsageError, nothing sent."""
        from .errors import ValidationError
        from .expand import expand, fill
        from .planning import check_budget, plan_all
        from .run import RunPath, use_cache
        from .settings import prepare

        settings = self.settings().but(offline=args.offline or None, **setting_values(args))
        edit = _edit_inputs(self.shell, args)
        cache = use_cache(settings, args.fresh)
        if args.continue_from is not None:
            return self._refine(args, prompt, settings, cache, bool(edit)), None
        if args.grid and edit:
            raise UsageError("--grid runs generations, not edits: leave out --image, or edit in a loop")
        try:
            extra = parse_extra(args.extra)
            if args.grid:
                grid = grid_axes(args.grid, self.shell.user_ns)
                variants = expand(
                    prompt, namespace=self.shell.user_ns, expand_template=not args.no_expand, **grid
                ).with_params(given_values(args))
                plans = plan_all(variants, settings=settings, extra_body=extra)
                check_budget(plans, settings.sweep_limit if args.limit is None else args.limit)
                return RunPath(plans, cache=cache, notes=variants.notes, notify=print), variants
            prompt = prompt if args.no_expand else fill(prompt, {}, self.shell.user_ns)
            values = given_values(args) if edit else request_values(args)
            plan = prepare(prompt, values, settings=settings, extra_body=extra, **edit)
        except (ValueError, ValidationError) as exc:
            raise UsageError(str(exc)) from exc
        return RunPath([plan], cache=cache, notify=print), None

    def _refine(self, args, prompt, settings, cache, editing):
        """`--continue [NAME]`: the cell refines an earlier result (see refinement.plan_refinement)."""
        from .errors import ValidationError
        from .expand import fill
        from .refinement import plan_refinement
        from .run import RunPath
        from .session import default

        if editing or args.grid:
            raise UsageError("--continue refines one earlier result: leave out --image and --grid")
        if args.continue_from:
            source = _input(self.shell, "--continue", args.continue_from)
        elif default().last_result is not None:
            source = default().last_result
        else:
            raise UsageError("--continue: no result in this kernel yet: name one (a result or a history entry)")
        try:
            extra = parse_extra(args.extra)
            prompt = prompt if args.no_expand else fill(prompt, {}, self.shell.user_ns)
            plan = plan_refinement(source, prompt, given_values(args), settings=settings, extra_body=extra)
        except (ValueError, ValidationError) as exc:
            raise UsageError(str(exc)) from exc
        return RunPath([plan], cache=cache, notify=print)

    def _remote_models(self):
        from .endpoint import resolve
        from .errors import ImageMagicError
        from .remote import remote_text

        settings = self.settings()
        try:
            print(remote_text(resolve(api_key=settings.api_key, base_url=settings.base_url, offline=settings.offline)))
        except ImageMagicError as exc:
            raise UsageError(str(exc)) from exc

    @line_magic
    def imagegen_usage(self, line):
        """Show this session's token usage per model, with estimated cost where prices are known, and the spending
        against `budget` and `daily_budget`."""
        from .budget import report
        from .session import default

        print(default().ledger.report())
        print(report(self.settings()))

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
    def imagegen_batch(self, line):
        """List the Batch API jobs submitted from this machine, newest first, with their status."""
        from .batchjob import batches

        jobs = batches(settings=self.settings())
        print(
            "\n".join(job.line() + (f"  ({job.problem})" if job.problem else "") for job in jobs) or "no batch jobs yet"
        )

    @line_magic
    def imagegen_recall(self, line):
        """Put the %%imagegen cell that makes an image again into the next input cell (like %recall).

        %imagegen_recall hero            a variable: an image we returned, or a result (its first image)
        %imagegen_recall 142501-a1b2c3-1.png   a history file's name, or any path to an image we made
        """
        from .errors import ValidationError
        from .recipes import recipe

        text = line.strip()
        if not text:
            raise UsageError("%imagegen_recall needs an image: a variable, a history file's name or a path")
        value = self.shell.user_ns.get(text, text) if text.isidentifier() else text
        if isinstance(value, list) and value:  # an ImageResult or a list of images: the first one
            value = value[0]
        try:
            cell = recipe(value).cell()
        except ValidationError as exc:
            raise UsageError(f"{text}: {exc}") from None
        self.shell.set_next_input(cell, replace=False)

    @line_magic
    def imagegen_panel(self, line):
        """Show the control panel: every parameter at hand, generation that never blocks the kernel."""
        from .controlpanel import panel

        return panel(settings=self.settings())
