"""The activity feed: /api/v1/projects/{id}/activity."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from collab.activity import store
from collab.errors import ErrorSchema
from collab.http import Blueprint
from collab.models import Role
from collab.permissions import auth_required, project_access, project_errors
from collab.schemas import PaginationSchema

blp = Blueprint(
    "activity",
    __name__,
    url_prefix="/api/v1/projects/<uuid:project_id>/activity",
    description="What happened in a project",
)


class ActivitySchema(Schema):
    id = fields.String(attribute="_id")
    action = fields.String(metadata={"example": "workspace.created"})
    project_id = fields.String()
    workspace_id = fields.String(allow_none=True)
    actor_id = fields.String(allow_none=True)
    target_type = fields.String(metadata={"example": "workspace"})
    target_id = fields.String()
    details = fields.Dict()
    created_at = fields.DateTime()


@blp.route("")
class Activity(MethodView):
    @auth_required(blp)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(
        200, ActivitySchema(many=True), headers={"X-Total-Count": {"schema": {"type": "integer"}}}
    )
    @blp.alt_response(503, schema=ErrorSchema, description="MongoDB is unavailable")
    @project_errors(blp, 403, 404)
    def get(self, page, project_id):
        """The project's activity, newest first (viewers and better)"""
        project_access(project_id, Role.VIEWER)
        items, total = store.of_project(str(project_id), page["skip"], page["limit"])
        return items, {"X-Total-Count": str(total)}
