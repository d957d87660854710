"""Projects: /api/v1/projects."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from collab.auth.identity import current_user_id
from collab.etags import etag_header
from collab.http import Blueprint
from collab.models import Role
from collab.permissions import (
    auth_required,
    project_access,
    project_errors,
)
from collab.projects import service
from collab.projects.schemas import (
    ProjectCreateSchema,
    ProjectDetailSchema,
    ProjectSchema,
    ProjectUpdateSchema,
    TransferSchema,
)
from collab.schemas import MessageSchema, PaginationSchema, message

blp = Blueprint("projects", __name__, url_prefix="/api/v1/projects", description="Projects")


@blp.route("")
class Projects(MethodView):
    @auth_required(blp)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(
        200,
        ProjectSchema(many=True),
        headers={"X-Total-Count": {"schema": {"type": "integer"}}},
    )
    def get(self, page):
        """Projects the caller owns or is a member of, newest first"""
        cached = service.cached_page(current_user_id(), page["skip"], page["limit"])
        return jsonify(cached["items"]), {"X-Total-Count": str(cached["total"])}

    @auth_required(blp)
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    def post(self, data):
        """Create a project; the caller becomes its owner"""
        project = service.create_project(current_user_id(), data)
        return project, {
            "Location": f"{blp.url_prefix}/{project.id}",
            **etag_header(project),
        }


@blp.route("/<uuid:project_id>")
class ProjectItem(MethodView):
    @auth_required(blp)
    @blp.response(200, ProjectDetailSchema)
    @project_errors(blp, 404)
    def get(self, project_id):
        """A project with its owner, workspaces and the caller's role"""
        cached = service.cached_detail(project_id, current_user_id())
        return jsonify(cached["body"]), {"ETag": f'"{cached["etag"]}"'}

    @auth_required(blp)
    @blp.arguments(ProjectUpdateSchema)
    @blp.response(200, ProjectSchema)
    @project_errors(blp, 403, 404, 412)
    def put(self, changes, project_id):
        """Edit a project (collaborators and owner; only the owner changes is_public)"""
        access = project_access(project_id, Role.COLLABORATOR)
        project = service.update_project(access, changes)
        return project, etag_header(project)

    patch = put

    @auth_required(blp)
    @blp.response(200, MessageSchema)
    @project_errors(blp, 403, 404, 412)
    def delete(self, project_id):
        """Delete a project with its workspaces and memberships (owner only)"""
        service.delete_project(project_access(project_id, Role.OWNER))
        return message("Project deleted")


@blp.route("/<uuid:project_id>/transfer")
class Transfer(MethodView):
    @auth_required(blp)
    @blp.arguments(TransferSchema)
    @blp.response(200, ProjectSchema)
    @project_errors(blp, 403, 404)
    def post(self, data, project_id):
        """Hand the project to another member; the old owner becomes a collaborator"""
        access = project_access(project_id, Role.OWNER)
        project = service.transfer_ownership(access, data["user_id"])
        return project, etag_header(project)
