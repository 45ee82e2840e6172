"""Templates, grid axes and rows become one Variant per request: the product, in order, filled the IPython way."""

from __future__ import annotations

import pytest

from imagemagic.errors import ValidationError
from imagemagic.expand import expand


def test_lists_are_axes_and_the_product_is_in_the_order_given():
    variants = expand("A {animal}", animal=["fox", "owl"], quality=("low", "high"), size="1024x1024")
    assert [(v.prompt, v.params) for v in variants] == [
        ("A fox", {"size": "1024x1024", "quality": "low"}),
        ("A fox", {"size": "1024x1024", "quality": "high"}),
        ("A owl", {"size": "1024x1024", "quality": "low"}),
        ("A owl", {"size": "1024x1024", "quality": "high"}),
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


QUALITY_TYPO = (
    "'qualty' is not a parameter of generate: did you mean 'quality'? use model, size, resolution, quality, n, "
    "background, output_format, output_compression, moderation, stream, partial_images, style, response_format, user, "
    "safety_identifier, complexity, frame_count, frame_duration_ms, or a variable the template uses"
)


@pytest.mark.parametrize(
    "call",
    [
        lambda: expand("A fox", qualty=["low", "high"]),
        lambda: expand("A fox", rows=[{"qualty": "low"}]),
        lambda: expand("A fox", qualty="low"),
    ],
)
def test_a_name_neither_parameter_nor_template_variable_is_refused_with_did_you_mean(call):
    with pytest.raises(ValidationError) as caught:
        call()
    assert str(caught.value) == QUALITY_TYPO


def test_a_name_the_template_uses_fills_it_and_is_never_sent_with_one_note():
    variants = expand("A {user} in {style}", user=["alice", "bob"], style=["watercolor", "ink"], quality="low")
    assert [(v.prompt, v.params) for v in variants][:2] == [
        ("A alice in watercolor", {"quality": "low"}),
        ("A alice in ink", {"quality": "low"}),
    ]
    assert variants.notes == (
        "'user' fills the template's {user} and is not sent as the user parameter",
        "'style' fills the template's {style} and is not sent as the style parameter",
    )
    assert expand("A {animal.upper()} $colour", animal=["fox"], colour="red").notes == ()


def test_without_expansion_every_name_must_be_a_parameter():
    with pytest.raises(ValidationError, match="^'animal' is not a parameter of generate: "):
        expand("A {animal}", expand_template=False, animal=["fox"])
