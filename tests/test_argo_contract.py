"""The plugin's wire contract is Argo's: names and field numbers, checked on the wire.

ARGO is transcribed from argoproj/argo-workflows `pkg/apiclient/artifact/artifact.proto` at
commit f016ad89eb269d282aec06dc491c29f396a38df4. If our `.proto` or the generated code
drifts from it (a renumbered field, a renamed message), these tests fail.
"""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor

from artifacts_async.argo._proto import artifact_pb2 as pb

PROTO = Path(pb.__file__).with_name("artifact.proto")

# message -> {field: (number, type)}; "Artifact"/"PluginArtifact" name nested messages.
ARGO: dict[str, dict[str, tuple[int, str]]] = {
    "PluginArtifact": {"name": (1, "string"), "configuration": (2, "string"),
                       "connection_timeout_seconds": (3, "int32"), "key": (4, "string")},
    "Artifact": {"name": (1, "string"), "path": (2, "string"), "mode": (3, "int32"),
                 "from": (4, "string"), "plugin": (5, "PluginArtifact"),
                 "optional": (6, "bool"), "sub_path": (7, "string"),
                 "recurse_mode": (8, "bool"), "from_expression": (9, "string"),
                 "deleted": (10, "bool")},
    "LoadArtifactRequest": {"input_artifact": (1, "Artifact"), "path": (2, "string")},
    "LoadArtifactResponse": {"success": (1, "bool"), "error": (2, "string")},
    "OpenStreamRequest": {"artifact": (1, "Artifact")},
    "OpenStreamResponse": {"data": (1, "bytes"), "is_end": (2, "bool"), "error": (3, "string")},
    "SaveArtifactRequest": {"path": (1, "string"), "output_artifact": (2, "Artifact")},
    "SaveArtifactResponse": {"success": (1, "bool"), "error": (2, "string")},
    "DeleteArtifactRequest": {"artifact": (1, "Artifact")},
    "DeleteArtifactResponse": {"success": (1, "bool"), "error": (2, "string")},
    "ListObjectsRequest": {"artifact": (1, "Artifact")},
    "ListObjectsResponse": {"objects": (1, "repeated string"), "error": (2, "string")},
    "IsDirectoryRequest": {"artifact": (1, "Artifact")},
    "IsDirectoryResponse": {"is_directory": (1, "bool"), "error": (2, "string")},
    "SaveStreamArtifactRequest": {"output_artifact": (1, "Artifact"), "chunk": (2, "bytes")},
    "GetCapabilitiesRequest": {},
    "GetCapabilitiesResponse": {"supports_save_stream": (1, "bool")},
}
# method -> (request, response, client streams, server streams)
ARGO_METHODS = {
    "Load": ("LoadArtifactRequest", "LoadArtifactResponse", False, False),
    "OpenStream": ("OpenStreamRequest", "OpenStreamResponse", False, True),
    "Save": ("SaveArtifactRequest", "SaveArtifactResponse", False, False),
    "Delete": ("DeleteArtifactRequest", "DeleteArtifactResponse", False, False),
    "ListObjects": ("ListObjectsRequest", "ListObjectsResponse", False, False),
    "IsDirectory": ("IsDirectoryRequest", "IsDirectoryResponse", False, False),
    "SaveStream": ("SaveStreamArtifactRequest", "SaveArtifactResponse", True, False),
    "GetCapabilities": ("GetCapabilitiesRequest", "GetCapabilitiesResponse", False, False),
}

_SCALARS = {FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BOOL: "bool",
            FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_BYTES: "bytes"}


def _type(field: FieldDescriptor) -> str:
    name = field.message_type.name if field.message_type else _SCALARS[field.type]
    return f"repeated {name}" if field.is_repeated else name


def test_generated_code_has_argos_messages_fields_and_methods() -> None:
    """Package, service, every message, field name, number and type are Argo's."""
    file = pb.DESCRIPTOR
    assert file.package == "artifact"
    assert set(file.message_types_by_name) == set(ARGO)
    for message, fields in ARGO.items():
        descriptor = file.message_types_by_name[message]
        got = {f.name: (f.number, _type(f)) for f in descriptor.fields}
        assert got == fields, message
    service = file.services_by_name["ArtifactService"]
    assert service.full_name == "artifact.ArtifactService"
    got_methods = {m.name: (m.input_type.name, m.output_type.name, m.client_streaming,
                            m.server_streaming) for m in service.methods}
    assert got_methods == ARGO_METHODS


def test_the_proto_file_says_what_the_generated_code_does() -> None:
    """Every field line of our artifact.proto matches the contract table (so the source,
    not only the generated code, is Argo's)."""
    text = re.sub(r"//[^\n]*", "", PROTO.read_text())
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for name, body in re.findall(r"message\s+(\w+)\s*\{([^}]*)\}", text):
        found[name] = {
            field: (int(number), f"{repeated}{kind}".strip())
            for repeated, kind, field, number in re.findall(
                r"(repeated\s+)?(\w+)\s+(\w+)\s*=\s*(\d+)\s*;", body)
        }
    assert found == ARGO
    assert "google.api" not in text


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _decode(data: bytes) -> dict[int, list[int | bytes]]:
    """A minimal protobuf wire decoder: field number -> values (varints or raw bytes)."""
    fields: dict[int, list[int | bytes]] = {}
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
            fields.setdefault(number, []).append(value)
        elif wire == 2:
            size, at = _varint(data, at)
            fields.setdefault(number, []).append(data[at:at + size])
            at += size
        else:
            raise AssertionError(f"unexpected wire type {wire} for field {number}")
    return fields


def test_a_serialised_save_stream_frame_decodes_by_argos_field_numbers() -> None:
    """A frame serialised by the generated code carries every value under Argo's number."""
    frame = pb.SaveStreamArtifactRequest(
        output_artifact=pb.Artifact(
            name="model", path="/out/model", mode=0o644, optional=True, sub_path="sub",
            recurse_mode=True, from_expression="expr", deleted=True,
            plugin=pb.PluginArtifact(name="aa", configuration="{driver: local}",
                                     connection_timeout_seconds=7, key="wf/model"),
            **{"from": "{{steps.a.outputs.artifacts.m}}"},
        ),
        chunk=b"\x00\x01bytes",
    )
    outer = _decode(frame.SerializeToString())
    assert outer[2] == [b"\x00\x01bytes"]
    (artifact_bytes,) = outer[1]
    assert isinstance(artifact_bytes, bytes)
    artifact = _decode(artifact_bytes)
    assert artifact == {
        1: [b"model"], 2: [b"/out/model"], 3: [0o644], 4: [b"{{steps.a.outputs.artifacts.m}}"],
        5: artifact[5], 6: [1], 7: [b"sub"], 8: [1], 9: [b"expr"], 10: [1],
    }
    (plugin_bytes,) = artifact[5]
    assert isinstance(plugin_bytes, bytes)
    assert _decode(plugin_bytes) == {1: [b"aa"], 2: [b"{driver: local}"], 3: [7],
                                     4: [b"wf/model"]}
    # And back: bytes written by hand with Argo's numbers parse into the right fields.
    response = pb.OpenStreamResponse.FromString(b"\x0a\x03abc\x10\x01\x1a\x04oops")
    assert (response.data, response.is_end, response.error) == (b"abc", True, "oops")
