"""What a request costs in pixels held at once: the images it renders and, for an edit, the inputs it
decodes (every input image and the mask, full size). The pixel budget charges both, so concurrent edits
of large inputs wait (503) instead of taking the server's memory; an edit whose inputs alone exceed the
whole budget is refused (400), never queued forever. Sizes come from the files' headers only: nothing
is decoded to count (and a decompression bomb is refused by `open_image` before any decode).

`request_pixels(service, req)` is the charge for the budget (a batch line is charged the same way);
`inputs_problem(service, req)` the one line refusing an edit too large for this server.
"""

from __future__ import annotations

from ..request import EditRequest


def input_pixels(req) -> int:
    """The pixels of every input image and the mask of an edit, read from their headers (0 for a generation;
    an input PIL cannot read counts nothing: it is refused elsewhere)."""
    if not isinstance(req, EditRequest):
        return 0
    total = 0
    for img in (*req.images, *([req.mask] if req.mask is not None else [])):
        pil = img.pil  # opened lazily: header only
        total += pil.width * pil.height if pil is not None else 0
    return total


def request_pixels(service, req) -> int:
    """Pixels the request holds at once: its output image(s) rendered (see PreviewService.pixels) and its inputs."""
    return service.pixels(req) + input_pixels(req)


def inputs_problem(service, req) -> str | None:
    """One line when the edit's inputs and output together are more than this server's whole pixel budget."""
    needed = request_pixels(service, req)
    if not input_pixels(req) or needed <= service.budget.limit:
        return None
    return (
        f"the input images are {input_pixels(req):,} pixels in all: with the output that is more than this server "
        f"decodes at once (at most {service.budget.limit:,} pixels); send smaller images"
    )
