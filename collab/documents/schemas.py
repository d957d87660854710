from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate


def no_surrounding_whitespace(name: str) -> None:
    # Names are compared exactly: "Notes" and "Notes " would look like one name in a list.
    if name != name.strip():
        raise ValidationError("Must not be blank, or start or end with whitespace.")


NAME = [validate.Length(min=1, max=100), no_surrounding_whitespace]
NAME_DOC = {
    "description": "Unique in the workspace, case-sensitive ('Notes' and 'notes' differ). "
    "A run of the workspace uses it as the file's path when it is one: [A-Za-z0-9._-] "
    "segments separated by '/', no '.' or '..' segment, no leading '/'"
}
MAX_CONTENT_BYTES = 1024 * 1024


CONTENT_DOC = {
    "description": f"The whole text, at most {MAX_CONTENT_BYTES} bytes (UTF-8); past that 413"
}


class DocumentCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME, metadata=NAME_DOC)
    content = fields.String(
        load_default="", metadata={"description": f"Its first text (optional). {CONTENT_DOC}"}
    )


class DocumentContentSchema(Schema):
    content = fields.String(required=True, metadata=CONTENT_DOC)


class ContentWrittenSchema(Schema):
    seq = fields.Integer(
        metadata={"description": "The document's seq once written (its doc:update's seq)"}
    )
    content = fields.String(metadata={"description": "The text written"})


class DocumentUpdateSchema(Schema):
    name = fields.String(required=True, validate=NAME, metadata=NAME_DOC)


class DocumentSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    workspace_id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(
        dump_only=True, metadata={"description": "Last rename or content edit"}
    )


class DocumentDetailSchema(DocumentSchema):
    content = fields.String(
        dump_only=True,
        metadata={"description": "The current text: the CRDT's shared text type `content`"},
    )
