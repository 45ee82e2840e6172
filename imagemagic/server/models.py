"""The models the local server knows: one table, behind GET /v1/models, GET /v1/models/{id} and every route's
`model_not_found`.

The table holds the catalog's image models (judged by their catalog rows), the Responses API's mainline
models, what a route module registers with `register` when it is imported (the hook: a chat route calls
`register("gemini-2.5-flash-image", owned_by="google")` once, at module level), and the names one app is
given (`create_app(models=...)`, `imagemagic serve --model NAME`: judged by this server's generic limits).
A route asks `request.app.state.service.models` (a `Models`): `.refusal(name)` is its answer to an unknown
name, `.find(name)` the model.
A provider prefix follows the catalog's rule: `openai/gpt-image-2` is known when `gpt-image-2` is.
Any other name is answered as OpenAI answers it: 404 `model_not_found`, and nothing is rendered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.responses import Response

from ..catalog import DEFAULT_RESPONSES_MODEL, MODELS, base_name
from .shared import error

OWNER = "imagemagic-preview"
MAINLINE = (DEFAULT_RESPONSES_MODEL, "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4o", "o3")


@dataclass(frozen=True)
class Served:
    """One model the server answers for: its Model object's fields."""

    id: str
    owned_by: str = OWNER
    shutdown_date: str | None = None

    def object(self) -> dict:
        """The Model object, as GET /v1/models lists it (with `shutdown_date` where announced)."""
        model = {"id": self.id, "object": "model", "created": 0, "owned_by": self.owned_by}
        return {**model, "shutdown_date": self.shutdown_date} if self.shutdown_date else model


TABLE: dict[str, Served] = {
    **{name: Served(name, shutdown_date=m.shutdown.isoformat() if m.shutdown else None) for name, m in MODELS.items()},
    **{name: Served(name) for name in MAINLINE},
}


def register(*names: str, owned_by: str = OWNER) -> None:
    """Serve `names` on every app from now on: the hook for a route module that serves other models."""
    TABLE.update((name, Served(name, owned_by)) for name in names)


class Models:
    """The table one app serves: TABLE, plus the `extra` names given to this app."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = {name: Served(name) for name in extra}

    def all(self) -> list[Served]:
        """Every model, the table's first."""
        return list({**TABLE, **self.extra}.values())

    def find(self, name: object) -> Served | None:
        """The model `name` names (itself, or the name after a provider prefix), or None when unknown."""
        if not isinstance(name, str):
            return None
        known = {**TABLE, **self.extra}
        return known.get(name) or known.get(base_name(name))

    def refusal(self, name: object) -> Response | None:
        """The 404 OpenAI gives a model name it does not know; None for a known one (and for no name or a
        non-string: the route's default, or its type check)."""
        return not_found(name) if isinstance(name, str) and self.find(name) is None else None


def not_found(name: object) -> Response:
    """404 model_not_found, word for word as OpenAI answers it."""
    message = f"The model `{name}` does not exist or you do not have access to it."
    return error(message, status=404, code="model_not_found")
