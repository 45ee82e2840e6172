"""Many requests from one description: a prompt template, grid axes and rows → one Variant per request.

Shared by sweeps (run here, concurrently) and batches (sent to the provider's Batch API), so both
take exactly the same input. A template is expanded the way IPython expands a line magic (`{name}`,
`{expression}`, `$name`, with `{{`/`$$` for literal braces and dollars), against the row's columns,
the grid's values and then the namespace. Any value given as a list or tuple is a grid axis; the
run is the Cartesian product of the rows (if any) and the axes, in the order given.

Every name given (a keyword, a grid axis, a row column) is judged before anything is expanded: a
name the template uses fills it and is never sent; any other name must be a request parameter of
the operation, else it is a problem with "did you mean" (a typo never becomes a silent variable).
Only a row column may be neither: a label (`sku`, `tag`), kept in the run's variables (the sweep's
table, sweep.csv, a batch job's results) and never sent, unless it is a near-miss of a parameter
(`near_miss`), which is refused as any other name.
"""

from __future__ import annotations

import ast
import difflib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ValidationError
from .params import BY_NAME, for_operation, unknown_names
from .request import Problem


@dataclass(frozen=True)
class Variant:
    """One request of a many-image run: the values that made it, its prompt and its parameters."""

    variables: dict  # template variables and grid parameters, by name (what labels it on a contact sheet)
    prompt: str
    params: dict = field(default_factory=dict)  # request parameters (the template's own never included)


class Variants(list):
    """The variants of one run, in order, with `notes`: what to say once about the names given."""

    def __init__(self, variants: Iterable[Variant] = (), notes: tuple[str, ...] = ()) -> None:
        super().__init__(variants)
        self.notes = notes

    def with_params(self, params: Mapping) -> Variants:
        """These variants, each also sending `params` (e.g. the magic's flags) under its own parameters."""
        return Variants([replace(v, params={**params, **v.params}) for v in self], self.notes)


def _problem(name: str, message: str) -> ValidationError:
    return ValidationError([Problem(name, message)])


def rows_of(rows: Any) -> list[dict]:
    """The rows as a list of dicts: an iterable of mappings, or a pandas DataFrame (one dict per row)."""
    if rows is None:
        return [{}]
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame, without importing pandas
        return [{str(k): v for k, v in row.items()} for row in rows.to_dict("records")]
    found = list(rows)
    for number, row in enumerate(found, 1):
        if not isinstance(row, Mapping):
            raise _problem("rows", f"row {number} is a {type(row).__name__}: rows must be dicts or a DataFrame")
    return [dict(row) for row in found]


def template_names(template: str) -> set[str]:
    """The names a template's fields read (`{animal}`, `{n * 2}`, `{d['k']}`, `$colour`)."""
    from IPython.utils.text import DollarFormatter

    names: set[str] = set()
    try:
        fields = [name for _, name, _, _ in DollarFormatter().parse(template) if name]
    except ValueError:  # an unbalanced brace: fill() names the problem
        return names
    for text in fields:
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            continue
        names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names


def fill(template: str, values: Mapping, namespace: Mapping | None = None) -> str:
    """The template with `{name}`, `{expression}` and `$name` filled from `values`, then `namespace`.

    A name found in neither is a ValidationError naming it.
    """
    from IPython.utils.text import DollarFormatter

    scope = {**(namespace or {}), **values}
    try:
        return DollarFormatter().format(template, **scope)
    except NameError as exc:
        name = getattr(exc, "name", None) or str(exc)
        raise _problem(
            "prompt",
            f"the template uses {name!r}, which is not a grid axis, a row column or a variable "
            "(use --no-expand / expand=False to send the text as written)",
        ) from exc
    except (SyntaxError, ValueError, AttributeError, IndexError, KeyError, TypeError) as exc:
        raise _problem(
            "prompt", f"the template cannot be filled ({exc}); use --no-expand / expand=False to send it as written"
        ) from exc


def axes_of(values: Mapping) -> tuple[dict, dict]:
    """(grid axes, fixed values): a list or tuple value is an axis of its values; an empty one is an error."""
    axes, fixed = {}, {}
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            if not value:
                raise _problem(name, f"the grid axis {name!r} has no values")
            axes[name] = list(value)
        else:
            fixed[name] = value
    return axes, fixed


# what a Sweep's table adds to each row
TABLE_COLUMNS = ("image", "file", "tokens", "cost", "cost_source", "request_id", "error", "saved")


def near_miss(name: str, operation: str = "generate") -> bool:
    """Whether `name` looks meant as a parameter: one of any operation, or one of `operation` close enough for
    "did you mean" (difflib's default cutoff, 0.6, as params.unknown_names)."""
    return name in BY_NAME or bool(difflib.get_close_matches(name, [p.name for p in for_operation(operation)], n=1))


def judge_names(
    names: Iterable[str], used: set[str], operation: str = "generate", columns: Iterable[str] = ()
) -> tuple[str, ...]:
    """Each name is a variable the template uses (`used`) or a parameter of `operation`; raises a
    ValidationError ("did you mean") for any other. Row `columns` may also be labels: neither, and no
    `near_miss` (nor a column the sweep's table adds). Returns the notes to say once: a template variable
    named like a parameter fills the template and is not sent."""
    names = list(dict.fromkeys(names))
    labels = [c for c in dict.fromkeys(columns) if c not in used and c != "prompt" and not near_miss(c, operation)]
    unknown = unknown_names([n for n in names if n not in used and n != "prompt" and n not in labels], operation)
    if unknown:
        raise ValidationError([Problem(name, f"{line}, or a variable the template uses") for name, line in unknown])
    taken = [c for c in labels if c in TABLE_COLUMNS]
    if taken:
        line = f"the sweep's table adds ({', '.join(TABLE_COLUMNS)}): rename it"
        raise ValidationError([Problem(c, f"the column {c!r} is one {line}") for c in taken])
    return tuple(
        f"{name!r} fills the template's {{{name}}} and is not sent as the {name} parameter"
        for name in names
        if name in used and name in BY_NAME
    )


def expand(
    template: str | list[str] | None,
    *,
    rows: Iterable[Mapping] | None = None,
    namespace: Mapping | None = None,
    expand_template: bool = True,
    operation: str = "generate",
    **values: Any,
) -> Variants:
    """One Variant per request: rows × grid axes, with the template filled and the parameters split out.

    `values` are request parameters (by the table's names) and template variables alike; a list or
    tuple value is a grid axis. Row columns work the same way (a parameter or a template variable).
    `template` may also be a list of prompts (sent as written, one axis), or None when every row has
    a `prompt` column. Every name is judged first (see judge_names); nothing is filled before.
    """
    if isinstance(template, (list, tuple)):
        values, template = {"prompt": list(template), **values}, None
    axes, fixed = axes_of(values)
    table = rows_of(rows)
    used = template_names(template) if template is not None and expand_template else set()
    columns = [k for row in table for k in row]
    notes = judge_names([*values, *columns], used, operation, columns=[c for c in columns if c not in values])
    variants = []
    for row in table:
        for combination in itertools.product(*axes.values()):
            chosen = {**fixed, **row, **dict(zip(axes, combination, strict=True))}
            params = {k: v for k, v in chosen.items() if k in BY_NAME and k not in used}
            if template is None:
                if not isinstance(chosen.get("prompt"), str):
                    raise _problem("prompt", "give a template, a list of prompts, or rows with a 'prompt' column")
                prompt = chosen["prompt"]
            else:
                prompt = fill(template, chosen, namespace) if expand_template else template
            labels = {k: v for k, v in chosen.items() if k in axes or k in row}
            variants.append(Variant(labels, prompt, params))
    return Variants(variants, notes)
