from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from collab.documents.schemas import no_surrounding_whitespace


class VersionCreateSchema(Schema):
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=100), no_surrounding_whitespace],
        metadata={"description": "What this version is (e.g. 'before the refactor')"},
    )


class VersionSchema(Schema):
    id = fields.UUID(dump_only=True)
    seq = fields.Integer(
        dump_only=True, metadata={"description": "The document's seq this version has its text at"}
    )
    name = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "None: made automatically"}
    )
    created_at = fields.DateTime(dump_only=True)
    created_by = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Who named it or restored it; null for an automatic version"},
    )
    restored_from = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The version a restore brought back (this one is the restore)"},
    )
    authors = fields.List(
        fields.String(),
        dump_only=True,
        metadata={
            "description": "User ids of who edited since the previous version, in order of "
            "their first edit"
        },
    )
    size = fields.Integer(dump_only=True, metadata={"description": "Bytes of text (UTF-8)"})


class VersionDetailSchema(VersionSchema):
    content = fields.String(dump_only=True, metadata={"description": "The text at this version"})


def version_or_current(value: str) -> None:
    if value == "current":
        return
    try:
        fields.UUID().deserialize(value)
    except ValidationError:
        raise ValidationError("Must be a version id or 'current'.") from None


class DiffQuerySchema(Schema):
    against = fields.String(
        load_default="current",
        validate=version_or_current,
        metadata={"description": "A version id, or 'current' (the default): the new side"},
    )


class DiffEndSchema(Schema):
    version_id = fields.UUID(allow_none=True, metadata={"description": "null: the current text"})
    seq = fields.Integer()


class DiffLineSchema(Schema):
    op = fields.String(metadata={"enum": ["equal", "delete", "insert"]})
    text = fields.String(metadata={"description": "The line, with its newline if it has one"})


class HunkSchema(Schema):
    old_start = fields.Integer(metadata={"description": "1-based, as in the unified header"})
    old_lines = fields.Integer()
    new_start = fields.Integer()
    new_lines = fields.Integer()
    lines = fields.List(fields.Nested(DiffLineSchema))


class DiffSchema(Schema):
    from_ = fields.Nested(DiffEndSchema, data_key="from", attribute="from")
    to = fields.Nested(DiffEndSchema)
    unified = fields.String(
        metadata={
            "description": "A unified diff (`patch` applies it to the old text); "
            "empty when the texts are equal"
        }
    )
    hunks = fields.List(fields.Nested(HunkSchema))
    added = fields.Integer(metadata={"description": "Lines inserted"})
    removed = fields.Integer(metadata={"description": "Lines deleted"})


class RestoredSchema(Schema):
    seq = fields.Integer(
        metadata={"description": "The seq of the restoring edit (the doc:update broadcast)"}
    )
    content = fields.String(metadata={"description": "The text restored"})
    version = fields.Nested(
        VersionSchema,
        allow_none=True,
        metadata={
            "description": "The version that records the restore; null if the text already read so"
        },
    )
