"""`imagemagic serve | generate | models` (also `python -m imagemagic`). Bad input exits with status 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import REQUEST_FLAGS, parse_extra, request_values


def _parser():
    parser = argparse.ArgumentParser(
        prog="imagemagic", description="Text-to-image generation: the OpenAI Images API, or an offline preview server."
    )
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
    serve.add_argument("--api-key", default=None, help="Require this key as a Bearer token.")

    generate = commands.add_parser("generate", help="Generate images and write them to a folder.")
    generate.add_argument("prompt", help="What the image should show.")
    for names, options in REQUEST_FLAGS:
        generate.add_argument(*names, **options)
    generate.add_argument("--base-url", default=None, help="Base URL of an OpenAI-compatible API, including /v1.")
    generate.add_argument("--output-dir", default=".", help="Folder for the images (default: the current one).")

    commands.add_parser("models", help="List the known models with sizes, options and lifecycle.")
    return parser


def _generate(args, parser):
    from .api import Call
    from .endpoint import resolve
    from .errors import ImageMagicError
    from .request import ImageRequest

    try:
        extra = parse_extra(args.extra)
    except ValueError as exc:
        parser.exit(2, f"imagemagic: error: {exc}\n")
    request = ImageRequest(prompt=args.prompt, extra_body=extra, **request_values(args))
    problems = request.problems()
    if problems:
        parser.exit(2, f"imagemagic: error: {'; '.join(p.message for p in problems)}\n")
    endpoint = resolve(base_url=args.base_url, offline=args.offline, notify=lambda line: print(line, file=sys.stderr))
    for note in request.warnings(endpoint.base_url):
        print(f"warning: {note}", file=sys.stderr)
    call = Call(request, endpoint)
    try:
        result = call.run_sync()
    except ImageMagicError as exc:
        print(f"imagemagic: error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for img, stored in zip(result.images, result.files):
        target = out / stored.name
        target.write_bytes(img.data)
        print(target)
    return 0


def main(argv=None):
    """Entry point of the `imagemagic` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "models":
        from .catalog import catalog_text

        print(catalog_text())
        return 0
    if args.command == "serve":
        from .server.embedded import serve

        try:
            serve(host=args.host, port=args.port, delay=args.delay, api_key=args.api_key, batch_delay=args.batch_delay)
        except KeyboardInterrupt:
            pass
        return 0
    return _generate(args, parser)
