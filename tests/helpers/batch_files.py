"""Batch API output files for parser tests and the parsing benchmark: writing them, parsing them in
download-sized chunks, and measuring what parsing costs (peak memory growth, time against a floor)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import tracemalloc

from imagemagic.batch_io import OutputParser

CHUNK = 64 * 1024  # bytes per read, as a network stream hands them over


def output_line(custom_id, images, status_code=200, error=None):
    """One output record (compact JSON and newline) answering with `images` (bytes each) as b64_json."""
    body = {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(data).decode("ascii")} for data in images],
        "usage": {"input_tokens": 3, "output_tokens": 7, "total_tokens": 10},
    }
    if status_code != 200:
        body = {"error": {"message": error, "type": "invalid_request_error", "param": None, "code": None}}
    record = {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {"status_code": status_code, "request_id": f"req_{custom_id}", "body": body},
        "error": None,
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def write_output(path, count, size, seed=7):
    """An output file of `count` one-image lines of `size` random bytes, in shuffled custom_id order.

    Returns the largest line's length."""
    rng = random.Random(seed)
    order = list(range(count))
    rng.shuffle(order)
    largest = 0
    with open(path, "wb") as out:
        for n in order:
            line = output_line(f"r{n}", [os.urandom(size)])
            largest = max(largest, len(line))
            out.write(line)
    return largest


def parse_file(path):
    """custom_id → total decoded image bytes, parsing the file in CHUNK reads as a download would."""
    found = {}
    parser = OutputParser(lambda line: found.__setitem__(line.custom_id, sum(len(data) for data in line.images)))
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            parser.feed(chunk)
    parser.close()
    return found


def read_and_decode_floor(path):
    """The floor: read the file in CHUNK reads, and decode each image's base64 (spans found beforehand).

    Returns a function that does both, timed as one."""
    spans = []
    with open(path, "rb") as source:
        for line in source:
            start = line.index(b'"b64_json":"') + len(b'"b64_json":"')
            spans.append(line[start : line.index(b'"', start)])

    def floor():
        with open(path, "rb") as source:
            while source.read(CHUNK):
                pass
        for span in spans:
            binascii.a2b_base64(span, strict_mode=True)

    return floor


def peak_growth(work):
    """Peak bytes Python allocated while work() ran, above what was allocated before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
