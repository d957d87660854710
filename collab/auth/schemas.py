from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate


class FullMatch(validate.Regexp):
    """A Regexp that must match the whole value.

    marshmallow's Regexp uses `re.match`, where `$` also matches before a final newline, so
    "alice\n" would pass `^...$`. The pattern stays as written for the OpenAPI document.
    """

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


USERNAME = FullMatch(
    r"^[A-Za-z0-9_.-]{3,32}$",
    error="3 to 32 characters: letters, digits, '_', '.' or '-'",
)
PASSWORD = validate.Length(min=8, max=256)
FULL_NAME = validate.Length(max=100)


def normalise_email(data: dict) -> dict:
    if isinstance(data, dict) and isinstance(data.get("email"), str):
        data = {**data, "email": data["email"].strip().lower()}
    return data


class RegisterSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    full_name = fields.String(load_default=None, allow_none=True, validate=FULL_NAME)

    @pre_load
    def lower_email(self, data, **kwargs):
        return normalise_email(data)


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    email = fields.String(dump_only=True)
    username = fields.String(dump_only=True)
    full_name = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class UpdateMeSchema(Schema):
    username = fields.String(validate=USERNAME)
    full_name = fields.String(allow_none=True, validate=FULL_NAME)


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=256))

    @pre_load
    def lower_email(self, data, **kwargs):
        return normalise_email(data)


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "bearer"})
    expires_in = fields.Integer(
        required=True, metadata={"description": "Access token lifetime in seconds"}
    )


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class LogoutSchema(Schema):
    refresh_token = fields.String(validate=validate.Length(min=1, max=4096))


class ChangePasswordSchema(Schema):
    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=256)
    )
    new_password = fields.String(required=True, load_only=True, validate=PASSWORD)


class SessionSchema(Schema):
    id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    user_agent = fields.String(dump_only=True, allow_none=True)
    ip_address = fields.String(dump_only=True, allow_none=True)
    current = fields.Boolean(dump_only=True)
