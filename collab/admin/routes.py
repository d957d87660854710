"""Administration: /api/v1/admin (feature flags)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort

from collab import flags
from collab.admin.schemas import FlagSchema, FlagUpdateSchema
from collab.errors import ErrorSchema
from collab.http import Blueprint
from collab.permissions import admin_required, auth_required

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin", description="Administration")

ADMINS_ONLY = {
    "schema": ErrorSchema,
    "description": "The caller is not an administrator",
}


@blp.route("/flags")
class Flags(MethodView):
    @auth_required(blp)
    @admin_required
    @blp.response(200, FlagSchema(many=True))
    @blp.alt_response(403, **ADMINS_ONLY)
    def get(self):
        """Every feature flag with its current value"""
        return [flags.flag_state(name) for name in sorted(flags.FLAGS)]


@blp.route("/flags/<string:name>")
class FlagItem(MethodView):
    @auth_required(blp)
    @admin_required
    @blp.arguments(FlagUpdateSchema)
    @blp.response(200, FlagSchema)
    @blp.alt_response(403, **ADMINS_ONLY)
    @blp.alt_response(404, schema=ErrorSchema, description="No flag of that name")
    def put(self, data, name):
        """Turn a feature flag on or off (takes effect at once on this instance, within
        FEATURE_FLAG_CACHE_SECONDS on the others)"""
        if name not in flags.FLAGS:
            abort(404, message="No flag of that name")
        return flags.set_flag(name, data["enabled"])
