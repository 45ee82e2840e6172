"""A hostile Files/Batch server on 127.0.0.1 (over ScriptedServer): a test sets what each route answers.

    server = BatchServer(output=[output_line("r1", [png])])
    server.retrieve = lambda batch: {**batch, "status": "weird"}   # an odd Batch object
    server.content = trickle(data)                                  # any scripted step for downloads

Routes: POST /v1/files, POST /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel,
GET /v1/files/{id}/content. Every request's head and body is kept (`requests`, `authorizations`).
"""

from __future__ import annotations

from helpers.scripted import ScriptedServer, reply


class BatchServer:
    """Answers a batch that is completed at once, with `output` (lines as bytes) as its output file."""

    def __init__(self, output=(), batch_id="batch_hostile1", **batch_fields):
        self.output = b"".join(output)
        self.batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": "/v1/images/generations",
            "input_file_id": "file-in1",
            "completion_window": "24h",
            "status": "completed",
            "created_at": 1,
            "expires_at": 2,
            "output_file_id": "file-out1",
            "request_counts": {"total": 1, "completed": 1, "failed": 0},
            **batch_fields,
        }
        self.created = dict(self.batch, status="validating")  # what POST /v1/batches answers
        self.retrieve = lambda batch: batch  # what GET /v1/batches/{id} answers, from the batch
        self.content = None  # a scripted step answering downloads (None: `output` at once)
        self._server = ScriptedServer(default=self._route)
        self.url = self._server.url

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of each request received."""
        return [tuple(head.split(" ", 2)[:2]) for head, _ in self._server.requests]

    @property
    def authorizations(self) -> list[str]:
        """Every Authorization or api-key header value received."""
        found = []
        for head, _ in self._server.requests:
            for header in head.split("\r\n")[1:]:
                name, _, value = header.partition(":")
                if name.strip().lower() in ("authorization", "api-key"):
                    found.append(value.strip())
        return found

    async def _route(self, writer):
        method, path = self.requests[-1]
        if method == "POST" and path == "/v1/files":
            step = reply(body={"id": "file-in1", "object": "file", "bytes": 1, "purpose": "batch"})
        elif method == "POST" and path == "/v1/batches":
            step = reply(body=self.created)
        elif method == "GET" and path.startswith("/v1/batches/"):
            step = reply(body=self.retrieve(self.batch))
        elif method == "POST" and path.endswith("/cancel"):
            step = reply(body=dict(self.batch, status="cancelling"))
        elif method == "GET" and path.endswith("/content"):
            step = self.content or reply(raw=self.output, headers={"Content-Type": "application/octet-stream"})
        else:
            step = reply(404, body={"error": {"message": f"no route {method} {path}", "code": "not_found"}})
        await step(writer)

    def close(self) -> None:
        self._server.close()
