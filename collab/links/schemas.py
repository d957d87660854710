from __future__ import annotations

from marshmallow import Schema, fields, validate

from collab.collaborators.schemas import GRANTABLE, MemberSchema

MAX_EXPIRES_IN = 365 * 24 * 3600
MAX_USES = 10_000
STATUSES = ["active", "expired", "used_up", "revoked"]


class LinkCreateSchema(Schema):
    role = fields.String(required=True, validate=GRANTABLE)
    expires_in = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_EXPIRES_IN),
        metadata={"description": "Seconds until the link expires; absent or null: never"},
    )
    max_uses = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_USES),
        metadata={"description": "Joins the link allows; absent or null: no limit"},
    )


class LinkSchema(Schema):
    id = fields.UUID(dump_only=True)
    project_id = fields.UUID(dump_only=True)
    role = fields.String(dump_only=True)
    status = fields.String(
        dump_only=True,
        metadata={
            "enum": STATUSES,
            "description": "Whether the link still lets people join (revoked wins over expired, "
            "expired over used_up)",
        },
    )
    expires_at = fields.DateTime(dump_only=True, allow_none=True)
    max_uses = fields.Integer(dump_only=True, allow_none=True)
    uses = fields.Integer(
        dump_only=True, metadata={"description": "Joins that made or raised a membership"}
    )
    created_by = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class CreatedLinkSchema(LinkSchema):
    token = fields.String(
        dump_only=True,
        metadata={"description": "Shown only in this answer: the server keeps its hash"},
    )
    url = fields.String(
        dump_only=True,
        metadata={"description": "The web app's join page, the token in the fragment"},
    )


class JoinedSchema(MemberSchema):
    project_id = fields.UUID(dump_only=True)
