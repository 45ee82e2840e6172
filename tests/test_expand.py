"""Templates, grid axes and rows become one Variant per request: the product, in order, filled the IPython way."""

from __future__ import annotations

import pytest

from imagemagic.errors import ValidationError
from imagemagic.expand import expand


def test_lists_are_axes_and_the_product_is_in_the_order_given():
    variants = expand("A {animal}, {quality}", animal=["fox", "owl"], quality=("low", "high"), size="1024x1024")
    assert [(v.prompt, v.params) for v in variants] == [
        ("A fox, low", {"size": "1024x1024", "quality": "low"}),
        ("A fox, high", {"size": "1024x1024", "quality": "high"}),
        ("A owl, low", {"size": "1024x1024", "quality": "low"}),
        ("A owl, high", {"size": "1024x1024", "quality": "high"}),
    ]
    assert variants[1].variables == {"animal": "fox", "quality": "high"}  # the axes label it, not fixed values


def test_rows_cross_the_axes_and_their_columns_are_parameters_or_variables():
    rows = [{"product": "mug", "size": "1536x1024"}, {"product": "lamp", "size": "1024x1024"}]
    variants = expand("A {product} on marble", rows=rows, quality=["low", "high"])
    assert [(v.prompt, v.params["size"], v.params["quality"]) for v in variants] == [
        ("A mug on marble", "1536x1024", "low"),
        ("A mug on marble", "1536x1024", "high"),
        ("A lamp on marble", "1024x1024", "low"),
        ("A lamp on marble", "1024x1024", "high"),
    ]


def test_expressions_dollar_names_the_namespace_and_literal_braces():
    variants = expand("{n_legs * 2} legs, $colour {{not a field}} $$5", namespace={"colour": "red"}, n_legs=[2])
    assert variants[0].prompt == "4 legs, red {not a field} $5"


def test_a_list_of_prompts_and_prompt_columns_are_sent_as_written():
    assert [v.prompt for v in expand(["a {literal}", "b"])] == ["a {literal}", "b"]
    assert [v.prompt for v in expand(None, rows=[{"prompt": "c {x}"}])] == ["c {x}"]
    assert expand("keep {this}", expand_template=False)[0].prompt == "keep {this}"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: expand("A {animal}"),
            "the template uses 'animal', which is not a grid axis, a row column or a variable "
            "(use --no-expand / expand=False to send the text as written)",
        ),
        (lambda: expand("A {x}", x=[]), "the grid axis 'x' has no values"),
        (lambda: expand("A", rows=["not a dict"]), "row 1 is a str: rows must be dicts or a DataFrame"),
        (
            lambda: expand(None, rows=[{"size": "1024x1024"}]),
            "give a template, a list of prompts, or rows with a 'prompt' column",
        ),
    ],
)
def test_problems_are_one_line(call, message):
    with pytest.raises(ValidationError) as caught:
        call()
    assert str(caught.value) == message
