"""The wire forms of an edit (POST /images/edits), written and read: multipart and JSON.

Multipart as the official SDK sends it: one `image` part for a single image, repeated `image[]`
parts for several, `mask`, and each scalar parameter as a form field; every file part carries its
real MIME type and a file name with the matching extension (providers refuse
application/octet-stream). JSON: `images: [{"image_url": "data:<mime>;base64,..."}]`, and `mask`
the same way, which some gateways and the Batch API take exclusively.
The readers are the local server's: they turn either form back into fields and InputImages.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets

from .inputimage import InputImage


def _field_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _scalars(req):
    body = req.body()
    return {k: v for k, v in body.items() if k not in ("images", "mask")}


def _quoted(text):
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart(req) -> tuple[bytes, str]:
    """(body, content type) of the multipart form for edit `req`."""
    boundary = f"imagemagic-{secrets.token_hex(16)}"
    parts = []
    for name, value in _scalars(req).items():
        head = f'Content-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
        parts.append((head.encode(), _field_text(value).encode()))
    image_name = "image" if len(req.images) == 1 else "image[]"
    files = [(image_name, img) for img in req.images] + ([("mask", req.mask)] if req.mask is not None else [])
    for name, img in files:
        head = (
            f'Content-Disposition: form-data; name="{name}"; filename="{_quoted(img.filename)}"\r\n'
            f"Content-Type: {img.mime}\r\n\r\n"
        )
        parts.append((head.encode(), img.data))
    out = bytearray()
    for headers, data in parts:
        out += f"--{boundary}\r\n".encode() + headers + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def data_url(img: InputImage) -> str:
    """The image as a data: URL."""
    return f"data:{img.mime};base64,{base64.b64encode(img.data).decode('ascii')}"


def json_body(req) -> dict:
    """The JSON form of edit `req`: the parameters, `images` as data URLs, and `mask` likewise."""
    body = {**_scalars(req), "images": [{"image_url": data_url(img)} for img in req.images]}
    if req.mask is not None:
        body["mask"] = {"image_url": data_url(req.mask)}
    return body


def encode(req) -> tuple[bytes, str]:
    """(body, content type) of edit `req` in its wire form (`req.form`)."""
    if req.form == "json":
        return json.dumps(json_body(req), ensure_ascii=False, separators=(",", ":")).encode(), "application/json"
    return multipart(req)


# ---- reading (the local server) ----------------------------------------------------------------------------------


class FormError(ValueError):
    """A wire form that cannot be read: `param` names the part at fault."""

    def __init__(self, message, param=None):
        super().__init__(message)
        self.param = param


def from_data_url(ref, what) -> InputImage:
    """The image of a JSON form's `{"image_url": "data:..."}` reference. FormError otherwise."""
    if not isinstance(ref, dict) or set(ref) - {"image_url", "file_id"} or len(ref) != 1:
        raise FormError(f"'{what}' must be an object with image_url (or file_id).", what)
    url = ref.get("image_url")
    if not isinstance(url, str):
        raise FormError(f"'{what}' by file_id is not supported by this server: send a data: URL.", what)
    head, sep, payload = url.partition(",")
    if not (url.startswith("data:") and sep and head.endswith(";base64")):
        raise FormError(f"'{what}' must be a base64 data: URL (this server fetches no external URLs).", what)
    try:
        return InputImage(base64.b64decode(payload, validate=True), name=what)
    except (binascii.Error, ValueError) as exc:
        raise FormError(f"'{what}' has invalid base64 data.", what) from exc


def read_json(body: dict) -> tuple[dict, list, InputImage | None]:
    """(scalar fields, images, mask) of a JSON-form edit body."""
    images = body.get("images")
    if not isinstance(images, list):
        raise FormError("Missing required parameter: 'images' (a list of image references).", "images")
    found = [from_data_url(ref, f"images[{i}]") for i, ref in enumerate(images)]
    mask = from_data_url(body["mask"], "mask") if body.get("mask") is not None else None
    return {k: v for k, v in body.items() if k not in ("images", "mask")}, found, mask


async def read_form(form, types: dict) -> tuple[dict, list, InputImage | None]:
    """(fields typed by `types` {name: type}, images, mask) of a parsed multipart form (Starlette's)."""
    fields, images, mask = {}, [], None
    for name, value in form.multi_items():
        if hasattr(value, "read"):
            img = InputImage(await value.read(), name=value.filename or name)
            if name in ("image", "image[]"):
                images.append(img)
            elif name == "mask":
                mask = img
            else:
                raise FormError(f"Unexpected file part: '{name}'.", name)
        elif name in ("image", "image[]", "mask"):
            raise FormError(f"'{name}' must be a file part.", name)
        else:
            fields[name] = _typed(name, value, types.get(name, str))
    return fields, images, mask


def _typed(name, text, kind):
    if kind is bool:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise FormError(f"Invalid value for '{name}': expected true or false.", name)
    if kind is int:
        try:
            return int(text)
        except ValueError as exc:
            raise FormError(f"Invalid value for '{name}': expected an integer.", name) from exc
    return text
