from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate


def no_surrounding_whitespace(name: str) -> None:
    # Names are compared exactly: "Notes" and "Notes " would look like one name in a list.
    if name != name.strip():
        raise ValidationError("Must not be blank, or start or end with whitespace.")


NAME = [validate.Length(min=1, max=100), no_surrounding_whitespace]
NAME_DOC = {"description": "Unique in the workspace, case-sensitive ('Notes' and 'notes' differ)"}


class DocumentCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME, metadata=NAME_DOC)


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
