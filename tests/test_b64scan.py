"""The JSON scanner that decodes `b64_json` values as they arrive, at every chunk boundary, and the SSE
stream pieces it is fed from."""

from __future__ import annotations

import base64
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagemagic.b64scan import B64Scanner, marker_index
from imagemagic.sse import SSEStream

PNG = bytes(range(256)) * 3 + b"end"
B64 = base64.b64encode(PNG).decode()

# (document, expected parsed rest, expected decoded values)
CASES = {
    "one value": ('{"b64_json":"' + B64 + '","created":1}', {"b64_json": "#b64:0", "created": 1}, [PNG]),
    "spaces around the colon": ('{ "b64_json" :\n "' + B64 + '" }', {"b64_json": "#b64:0"}, [PNG]),
    "n values in a data list": (
        json.dumps({"created": 2, "data": [{"b64_json": "QQ=="}, {"b64_json": "QkI="}, {"url": "http://x/y"}]}),
        {"created": 2, "data": [{"b64_json": "#b64:0"}, {"b64_json": "#b64:1"}, {"url": "http://x/y"}]},
        [b"A", b"BB"],
    ),
    "escaped slash": ('{"b64_json":"' + B64.replace("/", "\\/") + '"}', {"b64_json": "#b64:0"}, [PNG]),
    "the key inside another string is text": (
        json.dumps({"revised_prompt": 'say "b64_json": "QQ==" \\ twice', "b64_json": "QQ=="}),
        {"revised_prompt": 'say "b64_json": "QQ==" \\ twice', "b64_json": "#b64:0"},
        [b"A"],
    ),
    "the key as a value is text": (
        '{"type":"b64_json","b64_json":"QQ=="}',
        {"type": "b64_json", "b64_json": "#b64:0"},
        [b"A"],
    ),
    "a non-string value is left alone": ('{"b64_json":null,"x":"b64_json"}', {"b64_json": None, "x": "b64_json"}, []),
    "unicode elsewhere": (
        '{"revised_prompt":"é ☃ \\u00e9","b64_json":"QQ=="}',
        {"revised_prompt": "é ☃ é", "b64_json": "#b64:0"},
        [b"A"],
    ),
    "empty value": ('{"b64_json":""}', {"b64_json": "#b64:0"}, [b""]),
}


def scan(chunks):
    sinks = []

    def open_sink():
        sinks.append(bytearray())
        return sinks[-1]

    scanner = B64Scanner(lambda: _Collect(open_sink()))
    for chunk in chunks:
        scanner.feed(chunk)
    return json.loads(scanner.close()), [bytes(s) for s in sinks], scanner


class _Collect:
    def __init__(self, buffer):
        self.buffer = buffer

    def write(self, data):
        self.buffer += data


@pytest.mark.parametrize("doc, rest, values", CASES.values(), ids=CASES.keys())
def test_every_split_point(doc, rest, values):
    data = doc.encode()
    assert scan([data])[:2] == (rest, values)
    for i in range(len(data) + 1):
        for j in range(i, min(len(data), i + 40) + 1):  # every first cut, and second cuts near it
            got = scan([data[:i], data[i:j], data[j:]])
            assert got[:2] == (rest, values), (i, j)


@pytest.mark.parametrize("doc, rest, values", CASES.values(), ids=CASES.keys())
def test_byte_by_byte(doc, rest, values):
    data = doc.encode()
    assert scan([data[i : i + 1] for i in range(len(data))])[:2] == (rest, values)


@pytest.mark.parametrize(
    "value, reason",
    [
        ("@@@not base64@@@", "Only base64 data is allowed"),
        ("QQ=", "Incorrect padding"),
        ("QQ==QQ==", "Excess data after padding"),
        ("QQ\\n==", "the JSON string has an escape (\\n) that is not base64"),
    ],
)
def test_a_value_that_is_not_strict_base64_is_marked_invalid_at_any_split(value, reason):
    data = ('{"b64_json":"' + value + '"}').encode()
    for i in range(len(data) + 1):
        rest, _, scanner = scan([data[:i], data[i:]])
        assert rest == {"b64_json": "#b64:0"}
        assert scanner.errors == {0: reason}, i


def test_the_text_of_an_unfinished_value_does_not_parse():
    scanner = B64Scanner(io.BytesIO)
    scanner.feed(b'{"b64_json":"QUJD')
    with pytest.raises(ValueError):
        json.loads(scanner.close())


def test_marker_index():
    assert marker_index("#b64:12") == 12
    assert [marker_index(v) for v in ("#b64:", "#b64:x", "QQ==", None, 3)] == [None] * 5


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=600), max_size=6))
def test_random_images_and_splits_round_trip(image, cuts):
    doc = json.dumps({"type": "image_generation.completed", "b64_json": base64.b64encode(image).decode(), "n": 1})
    data = doc.encode()
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    rest, values, scanner = scan(chunks)
    assert values == [image] and rest["b64_json"] == "#b64:0" and not scanner.errors


def pieces(chunks):
    """SSE pieces of a stream fed in `chunks`, with consecutive data pieces merged (their split is free)."""
    stream, out = SSEStream(), []
    for chunk in chunks:
        out += stream.feed(chunk)
    out += stream.close()
    merged = []
    for kind, value in out:
        if kind == "data" and merged and merged[-1][0] == "data":
            merged[-1] = ("data", merged[-1][1] + value)
        elif not (kind == "data" and not value):
            merged.append((kind, value))
    return merged


def test_sse_stream_pieces_at_every_split_point():
    stream = b'event: image_generation.completed\r\ndata: {"b64_json":\ndata: "QQ=="}\n: keep-alive\n\n'
    expected = [
        ("event", "image_generation.completed"),
        ("line", b""),
        ("data", b'{"b64_json":'),
        ("line", b""),
        ("data", b'"QQ=="}'),
        ("dispatch", b""),
        ("dispatch", b""),
    ]
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1):
            assert pieces([stream[:i], stream[i:j], stream[j:]]) == expected, (i, j)


def test_a_dialect_names_its_own_image_keys():
    """The Responses API's keys (an item's `result`, a partial's `partial_image_b64`) are streamed as
    `b64_json` is; the Images key is then plain text, and so is a key name that is a value."""
    from imagemagic.b64scan import RESPONSES_KEYS

    doc = json.dumps({"output": [{"type": "result", "result": "QQ=="}], "partial_image_b64": "QkI=", "b64_json": "x"})
    sinks: list[io.BytesIO] = []
    scanner = B64Scanner(lambda: sinks.append(io.BytesIO()) or sinks[-1], RESPONSES_KEYS)
    for i in range(0, len(doc), 5):
        scanner.feed(doc[i : i + 5].encode())
    kept = json.loads(scanner.close())
    assert kept == {"output": [{"type": "result", "result": "#b64:0"}], "partial_image_b64": "#b64:1", "b64_json": "x"}
    assert [s.getvalue() for s in sinks] == [b"A", b"BB"]


def test_a_url_key_streams_only_a_data_url_and_keeps_any_other_url_as_text():
    """An answer's `url` (URL_KEYS): a `data:…;base64,` value is streamed with its head kept apart,
    also as a PHP encoder escapes it; a link, a data URL that is not base64 or has no comma, an escape in the
    head and a head past HEAD_LIMIT stay text. Split at every point, and byte by byte."""
    from imagemagic.b64scan import CHAT_KEYS, HEAD_LIMIT, URL_KEYS

    long_head = "data:image/" + "x" * HEAD_LIMIT + ";base64,QQ=="
    doc = json.dumps(
        {
            "images": [
                {"url": "data:image/png;base64," + B64},
                {"url": "https://cdn.example/a.png"},
                {"url": "data:image/png,QQ=="},
                {"url": "data:image/png;base64"},
                {"url": 'data:image/"png";base64,QQ=='},
                {"url": long_head},
                {"url": "DATA:Image/WebP;base64,QkI="},
            ],
            "inline_data": {"mime_type": "image/png", "data": "QkJC"},
        }
    ).replace("/", "\\/")
    expected = {
        "images": [
            {"url": "#b64:0"},
            {"url": "https://cdn.example/a.png"},
            {"url": "data:image/png,QQ=="},
            {"url": "data:image/png;base64"},
            {"url": 'data:image/"png";base64,QQ=='},
            {"url": long_head},
            {"url": "#b64:1"},
        ],
        "inline_data": {"mime_type": "image/png", "data": "#b64:2"},
    }
    raw = doc.encode()
    splits = [[raw[:cut], raw[cut:]] for cut in range(len(raw) + 1)] + [[raw[i : i + 1] for i in range(len(raw))]]
    for chunks in splits:
        sinks: list[io.BytesIO] = []
        scanner = B64Scanner(lambda got=sinks: got.append(io.BytesIO()) or got[-1], CHAT_KEYS, URL_KEYS)
        for chunk in chunks:
            scanner.feed(chunk)
        size = len(chunks[0])
        assert json.loads(scanner.close()) == expected, size
        assert [s.getvalue() for s in sinks] == [PNG, b"BB", b"BBB"], size
        assert scanner.heads == {0: "data:image/png;base64", 1: "DATA:Image/WebP;base64"} and not scanner.errors
