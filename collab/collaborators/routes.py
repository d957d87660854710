"""Project members: /api/v1/projects/{id}/collaborators."""

from __future__ import annotations

from flask.views import MethodView

from collab.collaborators import service
from collab.collaborators.schemas import InviteSchema, MemberSchema, RoleChangeSchema
from collab.errors import ErrorSchema
from collab.http import Blueprint
from collab.models import Role
from collab.permissions import auth_required, project_access, project_errors
from collab.schemas import MessageSchema, message

blp = Blueprint(
    "collaborators",
    __name__,
    url_prefix="/api/v1/projects/<uuid:project_id>/collaborators",
    description="Project members and their roles",
)


@blp.route("")
class Collaborators(MethodView):
    @auth_required(blp)
    @blp.response(200, MemberSchema(many=True))
    @project_errors(blp, 404)
    def get(self, project_id):
        """Everyone in the project, the owner first"""
        return service.members_of(project_access(project_id))

    @auth_required(blp)
    @blp.arguments(InviteSchema)
    @blp.response(201, MemberSchema)
    @project_errors(blp, 403)
    @blp.alt_response(404, schema=ErrorSchema, description="No such project, or no such user")
    @blp.alt_response(409, schema=ErrorSchema, description="Already a member or the owner")
    def post(self, data, project_id):
        """Add a registered user to the project (owner only)"""
        access = project_access(project_id, Role.OWNER)
        return service.invite(access, data["email"], data["role"])


@blp.route("/<uuid:user_id>")
class CollaboratorItem(MethodView):
    @auth_required(blp)
    @blp.arguments(RoleChangeSchema)
    @blp.response(200, MemberSchema)
    @project_errors(blp, 403, 404)
    @blp.alt_response(409, schema=ErrorSchema, description="The owner's role cannot change")
    def put(self, data, project_id, user_id):
        """Change a member's role (owner only)"""
        access = project_access(project_id, Role.OWNER)
        return service.change_role(access, user_id, data["role"])

    patch = put

    @auth_required(blp)
    @blp.response(200, MessageSchema)
    @project_errors(blp, 403, 404)
    @blp.alt_response(409, schema=ErrorSchema, description="The owner cannot leave")
    def delete(self, project_id, user_id):
        """Remove a member (owner), or leave the project (yourself)"""
        return message(service.remove(project_access(project_id), user_id))
