"""Rows with metadata columns the template does not use (`tag`, `sku`): carried as labels into the sweep's table,
sweep.csv and a batch job's results, never sent nor part of the cache; near-misses of parameter names refused."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from imagemagic.batchjob import submit_batch
from imagemagic.errors import ValidationError
from imagemagic.expand import expand
from imagemagic.settings import Settings
from imagemagic.sweeps import sweep

PRODUCTS = pd.DataFrame({"product": ["mug", "lamp"], "sku": ["A-1", "B-2"], "tag": ["kitchen", "light"]})


def test_unrelated_columns_are_labels_in_the_table_and_never_sent(recorder, tmp_path):
    settings = Settings(api_key="test-labels-key", base_url=f"{recorder.base}/v1")
    result = sweep("A {product} on marble", rows=PRODUCTS, quality=["low", "high"], settings=settings, progress=False)
    sent = sorted(recorder.requests, key=lambda r: (r["body"]["prompt"], r["body"]["quality"]))
    assert [request["body"] for request in sent] == [
        {"prompt": f"A {product} on marble", "model": "gpt-image-2", "quality": quality}
        for product in ("lamp", "mug")
        for quality in ("high", "low")
    ]
    assert [run.variables for run in result][:2] == [
        {"product": "mug", "sku": "A-1", "tag": "kitchen", "quality": "low"},
        {"product": "mug", "sku": "A-1", "tag": "kitchen", "quality": "high"},
    ]
    assert list(result.to_pandas().columns)[:5] == ["product", "sku", "tag", "quality", "prompt"]
    result.save(tmp_path / "out")
    with open(tmp_path / "out" / "sweep.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [(row["sku"], row["tag"], row["quality"]) for row in table] == [
        ("A-1", "kitchen", "low"), ("A-1", "kitchen", "high"), ("B-2", "light", "low"), ("B-2", "light", "high"),
    ]  # fmt: skip

    again = sweep("A {product} on marble", rows=[{"product": "mug", "sku": "Z-9"}], quality="low", settings=settings,
                  progress=False)  # fmt: skip
    assert again[0].cached and again[0].variables == {"product": "mug", "sku": "Z-9"}  # a label is not in the key
    assert len(recorder.requests) == 4


TYPO = (
    "{name!r} is not a parameter of generate: did you mean {close!r}? use model, size, resolution, quality, n, "
    "background, output_format, output_compression, moderation, stream, partial_images, style, response_format, user, "
    "safety_identifier, complexity, frame_count, frame_duration_ms, or a variable the template uses"
)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("qualty", TYPO.format(name="qualty", close="quality")),
        ("Size", TYPO.format(name="Size", close="size")),
        ("models", TYPO.format(name="models", close="model")),
        (
            "input_fidelity",
            "'input_fidelity' is not a parameter of generate: use model, size, resolution, quality, n, background, "
            "output_format, output_compression, moderation, stream, partial_images, style, response_format, user, "
            "safety_identifier, complexity, frame_count, frame_duration_ms, or a variable the template uses",
        ),
        (
            "file",
            "the column 'file' is one the sweep's table adds (image, file, tokens, cost, cost_source, request_id, "
            "error, saved): rename it",
        ),  # fmt: skip
        (  # the table's cost_source would overwrite it
            "cost_source",
            "the column 'cost_source' is one the sweep's table adds (image, file, tokens, cost, cost_source, "
            "request_id, error, saved): rename it",
        ),  # fmt: skip
    ],
)
def test_a_column_named_like_a_parameter_or_a_result_column_is_still_refused(column, message):
    with pytest.raises(ValidationError) as refused:
        expand("A {product}", rows=[{"product": "mug", column: "x"}])
    assert str(refused.value) == message


def test_a_keyword_is_never_a_label():
    with pytest.raises(ValidationError, match="^'sku' is not a parameter of generate: use model, "):
        expand("A {product}", rows=[{"product": "mug"}], sku="A-1")


def test_a_batch_keeps_the_labels_in_its_results_and_never_sends_them(start_server):
    url = start_server(batch_delay=0)
    job = submit_batch("A {product} on marble", rows=PRODUCTS, size="256x256", settings=Settings(base_url=url))
    assert job.wait(poll=0.05, progress=False) == "completed"
    assert [run.variables for run in job.results()] == PRODUCTS.to_dict("records")
    assert [wanted["body"] for wanted in job.requests().values()] == [
        {"prompt": f"A {product} on marble", "model": "gpt-image-2", "size": "256x256"} for product in ("mug", "lamp")
    ]


def test_a_batch_submitted_again_with_other_labels_returns_the_job_with_the_new_labels(start_server):
    """Before: the earlier job came back with the labels it was first submitted with (a renamed sku was lost)."""
    import imagemagic
    from imagemagic.batchjob import batch

    url = start_server(batch_delay=0)
    first = submit_batch("A {product} on marble", rows=PRODUCTS, size="256x256", settings=Settings(base_url=url))
    renamed = PRODUCTS.assign(sku=["A-1b", "B-2b"])
    with pytest.warns(imagemagic.ImageMagicWarning) as said:
        again = submit_batch("A {product} on marble", rows=renamed, size="256x256", settings=Settings(base_url=url))
    assert again.id == first.id and str(said[-1].message) == (
        f"this batch was submitted before as {first.id} (validating): returning that job, with this submission's "
        "labels; force=True (--force) submits a new one"
    )
    assert again.wait(poll=0.05, progress=False) == "completed"
    assert [run.variables for run in batch(first.id).results()] == renamed.to_dict("records")
