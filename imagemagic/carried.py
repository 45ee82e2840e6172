"""An image request carried by another API's body (the Responses API's image tool, a chat completion).

`Carried` is the part they share: every field not their own reads through to the image request (`image`),
problems are the image request's and then the carrying API's own (`own_problems`, each parameter reported
once), and such a request is never a Batch API line (batch lines are Images API requests).
"""

from __future__ import annotations

from typing import Any, Self

from .errors import ValidationError, quoted
from .request import Problem


class Carried:
    """The shared rules of a request whose `image` (ImageRequest or EditRequest) another API's body carries."""

    image: Any
    api = "images"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "image":
            raise AttributeError(name)
        return getattr(self.image, name)

    def own_problems(self) -> list[Problem]:
        """What the carrying API does not take (none here)."""
        return []

    def problems(self) -> list[Problem]:
        """The image request's problems, then the carrying API's (of the parameters not yet reported)."""
        found = self.image.problems()
        reported = {p.param for p in found}
        return found + [p for p in self.own_problems() if p.param not in reported]

    def validated(self) -> Self:
        """Return self, or raise ValidationError listing every problem."""
        problems = self.problems()
        if problems:
            raise ValidationError(problems)
        return self

    def wire_problems(self) -> list[Problem]:
        """problems(), plus this: a request sent as is, as a Batch API line is, must be an Images API request."""
        line = (
            f"api={quoted(self.api)} cannot be a Batch API line: batch lines are Images API requests (use api='images')"
        )
        return [*self.problems(), Problem("api", line)]
