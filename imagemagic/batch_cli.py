"""`imagemagic batch submit | status | wait | results | cancel | list`: Batch API jobs from a terminal.

Exit status: 0 done, 1 the server failed (or some requests of `results` did), 2 bad input (nothing sent).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from .batch_preflight import REFUSED
from .params import flag_arguments

LISTED = "`imagemagic batch list` lists them"  # where a job id that is not found can be looked up


def add_parser(commands):
    """Add the `batch` command group to the CLI's subparsers."""
    group = commands.add_parser("batch", help="Many images at half price through the provider's Batch API.")
    actions = group.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", help="Submit one request per line of a prompts file; print the job id.")
    submit.add_argument("prompts_file", help="A text file with one prompt per line (blank lines are skipped).")
    for names, options in flag_arguments("generate"):
        if options.get("dest", names[-1].lstrip("-").replace("-", "_")) not in REFUSED:  # what a batch takes
            submit.add_argument(*names, **options)
    submit.add_argument("--base-url", default=None, help="Base URL of an OpenAI-compatible API, including /v1.")
    submit.add_argument(
        "--force", action="store_true", help="Submit even when the identical batch was submitted before."
    )
    for name, text in (
        ("status", "Ask the server and print the job's status line."),
        ("wait", "Follow the job with a progress bar until it is done."),
        ("results", "Collect the job's images into a folder; failures go to stderr."),
        ("cancel", "Cancel the job's batches that are still running."),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("job", help="The job id (imb-...) or one of its provider batch ids.")
    actions.choices["wait"].add_argument("--poll", type=float, default=5.0, help="Seconds between checks (default 5).")
    actions.choices["results"].add_argument(
        "--output-dir", default=".", help="Folder for the images (default: the current one)."
    )
    actions.add_parser("list", help="List every job submitted from this machine, newest first.")


def run(args, parser) -> int:
    """Carry out `imagemagic batch <action>`; return the exit status."""
    from .batchjob import BatchError, batch, batches
    from .errors import ImageMagicError, ValidationError
    from .settings import Settings

    def fail(message):
        parser.exit(2, f"imagemagic: error: {message}\n")

    settings = Settings().but(base_url=getattr(args, "base_url", None))
    try:
        if args.action == "submit":
            job = _submit(args, settings, fail)
        elif args.action == "list":
            for job in batches(settings=settings):
                print(job.line() + (f"  ({job.problem})" if job.problem else ""))
            return 0
        else:
            job = batch(args.job, settings=settings, hint=LISTED)
        if args.action == "status":
            job.status()
        elif args.action == "wait":
            try:
                job.wait(poll=args.poll)
            except KeyboardInterrupt:  # wait() said the job goes on
                print(job.line())
                return 130
        elif args.action == "cancel":
            job.cancel()
        elif args.action == "results":
            return _results(job, Path(args.output_dir))
    except (BatchError, ValidationError) as exc:
        fail(exc)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}")
    except ImageMagicError as exc:
        print(f"imagemagic: error: {exc}", file=sys.stderr)
        return 1
    print(job.line())
    return 0


def _submit(args, settings, fail):
    from .batchjob import submit_batch
    from .endpoint import resolve
    from .errors import ImageMagicWarning
    from .flags import request_values

    try:
        text = Path(args.prompts_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{args.prompts_file}: {getattr(exc, 'strerror', None) or exc}; nothing was sent")
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        fail(f"{args.prompts_file} has no prompts (one per line); nothing was sent")
    if resolve(base_url=settings.base_url).base_url is None:
        fail(
            "a batch needs a server that outlives this command: run `imagemagic serve` and pass "
            "--base-url http://127.0.0.1:8000/v1, or set OPENAI_API_KEY; nothing was sent"
        )
    given = {k: v for k, v in request_values(args).items() if v is not None}
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", ImageMagicWarning)
        job = submit_batch(prompts, settings=settings, force=args.force, **given)
    for note in dict.fromkeys(str(w.message) for w in said):
        print(f"warning: {note}", file=sys.stderr)
    return job


def _results(job, folder) -> int:
    from .result import save_images

    runs = job.results()
    for run in runs:
        if run.images:
            for path in save_images(
                [(f"{job.id}-{run.custom_id}-{i.index + 1}", i) for i in run.images.images], folder
            ):
                print(path)
        else:
            print(f"{run.custom_id}: {run.error}", file=sys.stderr)
    return 1 if runs.failed else 0
