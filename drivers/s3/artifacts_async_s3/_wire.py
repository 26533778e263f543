"""PutObject and UploadPart on the wire, as botocore's S3 model describes them.

The fast path sends the same parameters the driver gives botocore (`Bucket`, `Key`,
`ChecksumCRC32C`, `Metadata`, ...). Where each one goes (a header and its name, the
query string, the path) and which response header fills which field is read once from
botocore's own service model, so both paths send the same headers and return the same
fields: there is no second, hand-written mapping to keep in step.

Only what these operations use is supported: string, integer and boolean header,
query-string and path members, a `headers` map (user metadata) and the payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import attrs
from botocore.exceptions import ClientError
from botocore.model import OperationModel

__all__ = ["Operation", "error_of"]

_SAFE_QUERY = "-_.~"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    raise TypeError(f"unsupported S3 parameter value {value!r}")  # a driver bug


@attrs.frozen(kw_only=True)
class Operation:
    """Where each parameter of one operation goes, and what each response header means."""

    name: str
    method: str
    headers: Mapping[str, str]  # parameter -> header name (lowercase)
    prefixed: Mapping[str, str]  # map parameter -> header prefix (`x-amz-meta-`)
    query: Mapping[str, str]  # parameter -> query-string name
    payload: str | None
    fields: Mapping[str, tuple[str, str]]  # response header (lowercase) -> (field, type)

    @classmethod
    def from_model(cls, model: OperationModel) -> Operation:
        """Read the operation's bindings from botocore's model of it."""
        # botocore drops `/{Bucket}` from the URI of clients that resolve endpoints by
        # its rules: the bucket is in the presigned base URL here.
        if model.http.get("requestUri") not in ("/{Bucket}/{Key+}", "/{Key+}"):
            raise ValueError(f"{model.name}: not an object operation")
        inputs, outputs = model.input_shape, model.output_shape
        if inputs is None or outputs is None:
            raise ValueError(f"{model.name}: no input or output shape")
        headers: dict[str, str] = {}
        prefixed: dict[str, str] = {}
        query: dict[str, str] = {}
        for member, shape in inputs.members.items():
            where = shape.serialization.get("location")
            name = shape.serialization.get("name", member)
            if where == "header":
                headers[member] = name.lower()
            elif where == "headers":
                prefixed[member] = name.lower()
            elif where == "querystring":
                query[member] = name
        fields = {
            shape.serialization.get("name", member).lower(): (member, shape.type_name)
            for member, shape in outputs.members.items()
            if shape.serialization.get("location") == "header"
        }
        return cls(
            name=model.name, method=model.http["method"], headers=headers,
            prefixed=prefixed, query=query,
            payload=inputs.serialization.get("payload"), fields=fields,
        )

    def path(self, base: str, params: Mapping[str, Any]) -> str:
        """The URL path: `base` (the bucket's, ending in `/`) and the key, encoded once.

        `quote(key, safe="/~")` is how botocore encodes `{Key+}`; S3 signs the path as
        sent, without normalising it.
        """
        return base + quote(params["Key"], safe="/~")

    def request(self, params: Mapping[str, Any]) -> tuple[str, dict[str, str], Any]:
        """The canonical query string, the headers and the body of a request."""
        pairs: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        for member, value in params.items():
            if value is None or member in ("Bucket", "Key") or member == self.payload:
                continue
            if (header := self.headers.get(member)) is not None:
                headers[header] = _text(value)
            elif (prefix := self.prefixed.get(member)) is not None:
                for name, item in value.items():
                    headers[f"{prefix}{name.lower()}"] = _text(item)
            elif (name := self.query.get(member)) is not None:
                pairs.append((quote(name, safe=_SAFE_QUERY),
                              quote(_text(value), safe=_SAFE_QUERY)))
            else:
                raise TypeError(f"{self.name}: unsupported parameter {member}")  # a bug
        query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        body = params.get(self.payload) if self.payload is not None else None
        return query, headers, body

    def response(self, status: int, headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """The fields botocore would parse from a success's headers."""
        parsed: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": status}}
        for name, value in headers:
            found = self.fields.get(name.lower())
            if found is None:
                continue
            member, kind = found
            if kind in ("integer", "long"):
                parsed[member] = int(value)
            elif kind == "boolean":
                parsed[member] = value.lower() == "true"
            else:
                parsed[member] = value
        return parsed


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_of(operation: str, status: int, body: bytes) -> ClientError:
    """S3's error answer as botocore raises it: a `ClientError` with Code and Message.

    The driver translates it with the same table as every other S3 error. An answer
    without an XML body (or with one that is not S3's) has no code: the status and its
    reason phrase stand for it, as with botocore.
    """
    error: dict[str, str] = {}
    if body:
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            root = None
        if root is not None:
            for child in root:
                tag = child.tag.rpartition("}")[2]
                if tag in ("Code", "Message", "Region", "BucketRegion") and child.text:
                    error[tag] = child.text
    if "Code" not in error:
        error = {"Code": str(status), "Message": _reason(status)}
    response: Any = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)
