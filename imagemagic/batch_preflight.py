"""Every rule of the Batch API, checked over prepared plans before anything is uploaded. Pure: plans in,
Problems out; nothing is written or sent.

    problems = preflight(plans)   # [] when the batch can go

The rules: a batch line is sent as is (no fan-out of `n`, so n within the model's limit), is answered
whole (no `stream`, no `partial_images`), fits in one input file (MAX_BYTES); every file holds one
model (submit splits by model, so each line must name one); and the endpoint runs image batches
(Azure OpenAI's Batch API does not: it refuses image endpoints, see AZURE_REFUSED).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import batch_io
from .batch_io import GENERATIONS, request_line
from .edits import json_body
from .errors import quoted
from .request import EditRequest, Problem

URLS = {"generate": GENERATIONS, "edit": "/v1/images/edits"}  # operation → batch endpoint
REFUSED = ("stream", "partial_images")  # parameters a batch line cannot carry
MAX_SHOWN = 20  # problems listed before "and N more"
AZURE_REFUSED = (
    "Azure OpenAI's Batch API runs chat, responses and embeddings requests, not image generations or edits: "
    "use imagemagic.sweep() for many images on Azure; nothing was sent"
)


def line_body(request) -> dict:
    """The body a batch line sends: the request's JSON body; an edit's in the JSON edit form (data URLs)."""
    return json_body(request) if isinstance(request, EditRequest) else request.body()


def line(custom_id: str, request, operation: str) -> bytes:
    """The input line (with its newline) that asks for `request`."""
    return request_line(custom_id, line_body(request), URLS[operation])


def preflight(plans: Sequence[Any], operation: str = "generate") -> list[Problem]:
    """Every Batch API rule that `plans` (settings.Plan) break, numbered by request from 1; [] when none.

    At most MAX_SHOWN problems, then one saying how many more."""
    found = []
    if any(getattr(plan.endpoint, "azure_api_version", None) for plan in plans[:1]):
        found.append(Problem("base_url", AZURE_REFUSED))
    limit = batch_io.MAX_BYTES
    for number, plan in enumerate(plans, 1):
        request = plan.request
        problems = list(request.wire_problems())  # a batch line is sent as is: no fan-out of n
        for name in REFUSED:
            value = getattr(request, name, None)
            if value:
                problems.append(
                    Problem(
                        name,
                        f"{name}={quoted(value)} cannot be sent in a batch (its answers come whole, later): "
                        "leave it out",
                    )
                )
        if not isinstance(request.model, str) or not request.model:
            problems.append(Problem("model", "a batch line needs a model name (each input file holds one model)"))
        size = len(line("r", request, operation))
        if size > limit:
            problems.append(
                Problem(
                    "batch",
                    f"its batch line is {size / 2**20:.1f} MiB: an input file holds at most {limit / 2**20:.0f} MiB",
                )
            )
        found += numbered(number, problems)
    return capped(found)


def numbered(number: int, problems: Sequence[Problem]) -> list[Problem]:
    """`problems` of request `number` (from 1), each saying which request it is about."""
    return [Problem(p.param, f"request {number}: {p.message}") for p in problems]


def capped(problems: list[Problem]) -> list[Problem]:
    """At most MAX_SHOWN problems, then one saying how many more."""
    if len(problems) <= MAX_SHOWN:
        return problems
    return [*problems[:MAX_SHOWN], Problem("batch", f"and {len(problems) - MAX_SHOWN} more problems")]
