"""`imagemagic serve | generate | edit | recipe | models | batch` (also `python -m imagemagic`); bad input exits 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import batch_cli
from ._version import __version__
from .flags import parse_extra, request_flags, request_values, setting_values
from .profiles import PROFILE_CHOICES


def _parser():
    parser = argparse.ArgumentParser(
        prog="imagemagic", description="Text-to-image generation: the OpenAI Images API, or an offline preview server."
    )
    parser.add_argument("--version", action="version", version=f"imagemagic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run the local OpenAI-compatible preview server.")
    serve.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1, this machine only).")
    serve.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
    serve.add_argument(
        "--delay",
        type=float,
        default=None,
        help="Seconds per image, to simulate a slow model (default $IMAGEMAGIC_PREVIEW_DELAY or 0).",
    )
    serve.add_argument(
        "--batch-delay",
        type=float,
        default=None,
        help="Seconds per Batch API request, to watch a batch progress (default $IMAGEMAGIC_BATCH_DELAY or 0).",
    )
    serve.add_argument(
        "--api-key", default=None, help="Require this key as a Bearer token (default: any key, or none, is taken)."
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="Also answer requests whose Host (or a web page's Origin) is NAME, at any port; repeatable "
        "(default: 127.0.0.1, localhost and [::1] at this port, and the --host address).",
    )
    serve.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="Also serve model NAME (with the server's generic limits); repeatable. Other unknown models get 404.",
    )

    generate = commands.add_parser("generate", help="Generate images and write them to a folder.")
    generate.add_argument("prompt", help="What the image should show.")
    edit = commands.add_parser("edit", help="Edit images (with an optional mask) and write the results to a folder.")
    edit.add_argument("prompt", help="What to change.")
    edit.add_argument("--image", nargs="+", required=True, metavar="FILE", help="The image(s) to edit, up to 16.")
    edit.add_argument("--mask", metavar="FILE", help="A PNG whose transparent pixels mark the region to edit.")
    edit.add_argument(
        "--edit-format",
        choices=("multipart", "json"),
        default=None,
        help="Send the edit as multipart (default) or JSON.",
    )
    for command, operation in ((generate, "generate"), (edit, "edit")):
        for names, options in request_flags(operation):
            command.add_argument(*names, **options)
        command.add_argument("--base-url", default=None, help="Base URL of an OpenAI-compatible API, including /v1.")
        command.add_argument(
            "--profile", choices=PROFILE_CHOICES, default=None, help="Gateway profile (default auto: from the URL)."
        )
        command.add_argument("--output-dir", default=".", help="Folder for the images (default: the current one).")
        command.add_argument(
            "--budget", type=float, metavar="DOLLARS", help="Refuse (send nothing) if this would cost more than this."
        )
        command.add_argument(
            "--daily-budget",
            type=float,
            metavar="DOLLARS",
            help="Refuse (send nothing) if today's spending (the UTC day, every process's, in the history folder) "
            "would pass this.",
        )
        command.add_argument(
            "--fresh",
            action="store_true",
            help="Generate anew even when an identical earlier request's images are in the history (no cache).",
        )

    recipe = commands.add_parser("recipe", help="Print the %%%%imagegen cell that makes a stored image again.")
    recipe.add_argument("image", help="The image: a history file (or its name), or any copy of one.")
    models = commands.add_parser("models", help="List the known models with sizes, options and lifecycle.")
    models.add_argument(
        "--remote",
        action="store_true",
        help="Also compare the catalog with what the endpoint's /v1/models serves (cached for a day).",
    )
    models.add_argument("--base-url", default=None, help="Base URL of an OpenAI-compatible API, including /v1.")
    batch_cli.add_parser(commands)
    return parser


def _writable_folder(path):
    """Create the folder if needed; return None if it can take files, else the reason."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None if os.access(path, os.W_OK) else "not writable"


def _generate(args, parser):
    from .errors import ImageMagicError, ValidationError
    from .run import RunPath, interrupted_line, kept_line, use_cache
    from .settings import Settings, prepare

    def fail(message):
        parser.exit(2, f"imagemagic: error: {message}\n")

    out = Path(args.output_dir)
    reason = _writable_folder(out)
    if reason:
        fail(f"--output-dir {args.output_dir}: {reason}; nothing was sent")
    try:  # a budget that is no finite number of dollars is refused here, in one line
        settings = Settings().but(
            base_url=args.base_url, offline=args.offline or None, budget=args.budget, daily_budget=args.daily_budget,
            profile=args.profile, **setting_values(args),
        )  # fmt: skip
    except ValidationError as exc:
        fail(exc)
    edit = {}
    if args.command == "edit":
        settings = settings.but(edit_format=args.edit_format)
        edit = {"operation": "edit", "image": [Path(f) for f in args.image], "mask": args.mask and Path(args.mask)}
    try:
        values = request_values(args, edit.get("operation", "generate"))
        plan = prepare(args.prompt, values, settings=settings, extra_body=parse_extra(args.extra), **edit)
    except (ValueError, ValidationError) as exc:
        fail(exc)
    path = RunPath([plan], cache=use_cache(settings, args.fresh), notify=lambda line: print(line, file=sys.stderr))
    try:
        result = path.run_sync(path.one())
    except KeyboardInterrupt as interrupt:
        partial = getattr(interrupt, "partial", None)
        print(interrupted_line(partial), file=sys.stderr)
        _write(partial, out, path)
        return 130
    except ImageMagicError as exc:
        print(f"imagemagic: error: {exc}{kept_line(exc.partial)}", file=sys.stderr)
        _write(exc.partial, out, path)
        return 2 if isinstance(exc, ValidationError) else 1  # 2: refused before sending (a budget)
    if result.cached:
        print("(cached: identical to an earlier request; add --fresh for a new generation)", file=sys.stderr)
    _write(result, out, path)
    return 0


def _write(result, out, path):
    """Write what arrived into `out`, named as in the history and never overwriting; print each path."""
    if result:
        stem = path.calls[0].saver.stem if path.calls else None
        for file in result.save(out, stem=stem):
            print(file)


def _models(args):
    from .catalog import catalog_text

    print(catalog_text())
    if not args.remote:
        return 0
    from .endpoint import resolve
    from .errors import ImageMagicError
    from .remote import remote_text

    try:
        print(remote_text(resolve(base_url=args.base_url)))
    except ImageMagicError as exc:
        print(f"imagemagic: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """Entry point of the `imagemagic` command; a reader that stops early (`| head`) ends it quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader is gone: send the rest of stdout nowhere, so the exit's flush does not complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "recipe":
        from .errors import ValidationError
        from .recipes import recipe

        try:
            print(recipe(args.image).cell())
        except ValidationError as exc:
            parser.exit(2, f"imagemagic: error: {exc}\n")
        return 0
    if args.command == "models":
        return _models(args)
    if args.command == "batch":
        return batch_cli.run(args, parser)
    if args.command == "serve":
        from .server.embedded import ListenError, serve

        try:
            serve(
                host=args.host,
                port=args.port,
                delay=args.delay,
                api_key=args.api_key,
                batch_delay=args.batch_delay,
                allow_hosts=args.allow_host,
                models=args.model,
            )
        except ListenError as exc:
            parser.exit(2, f"imagemagic: error: {exc}\n")
        except KeyboardInterrupt:
            pass
        return 0
    return _generate(args, parser)
