"""Workspaces: /api/v1/projects/{id}/workspaces."""

from __future__ import annotations

from flask.views import MethodView

from collab.etags import etag_header
from collab.http import Blueprint
from collab.models import Role
from collab.permissions import (
    auth_required,
    project_access,
    project_errors,
)
from collab.schemas import MessageSchema, PaginationSchema, message
from collab.workspaces import service
from collab.workspaces.schemas import (
    WorkspaceCreateSchema,
    WorkspaceSchema,
    WorkspaceUpdateSchema,
)

blp = Blueprint(
    "workspaces",
    __name__,
    url_prefix="/api/v1/projects/<uuid:project_id>/workspaces",
    description="Workspaces inside a project",
)


@blp.route("")
class Workspaces(MethodView):
    @auth_required(blp)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(
        200,
        WorkspaceSchema(many=True),
        headers={"X-Total-Count": {"schema": {"type": "integer"}}},
    )
    @project_errors(blp, 404)
    def get(self, page, project_id):
        """The project's workspaces, oldest first"""
        access = project_access(project_id)
        items, total = service.workspaces_of(access, page["skip"], page["limit"])
        return items, {"X-Total-Count": str(total)}

    @auth_required(blp)
    @blp.arguments(WorkspaceCreateSchema)
    @blp.response(201, WorkspaceSchema)
    @project_errors(blp, 403, 404)
    def post(self, data, project_id):
        """Create a workspace (collaborators and owner)"""
        access = project_access(project_id, Role.COLLABORATOR)
        workspace = service.create_workspace(access, data)
        location = f"/api/v1/projects/{project_id}/workspaces/{workspace.id}"
        return workspace, {"Location": location, **etag_header(workspace)}


@blp.route("/<uuid:workspace_id>")
class WorkspaceItem(MethodView):
    @auth_required(blp)
    @blp.response(200, WorkspaceSchema)
    @project_errors(blp, 404)
    def get(self, project_id, workspace_id):
        """One workspace"""
        workspace = service.get_workspace(project_access(project_id), workspace_id)
        return workspace, etag_header(workspace)

    @auth_required(blp)
    @blp.arguments(WorkspaceUpdateSchema)
    @blp.response(200, WorkspaceSchema)
    @project_errors(blp, 403, 404, 412)
    def put(self, changes, project_id, workspace_id):
        """Edit a workspace (collaborators and owner)"""
        access = project_access(project_id, Role.COLLABORATOR)
        workspace = service.update_workspace(service.get_workspace(access, workspace_id), changes)
        return workspace, etag_header(workspace)

    patch = put

    @auth_required(blp)
    @blp.response(200, MessageSchema)
    @project_errors(blp, 403, 404, 412)
    def delete(self, project_id, workspace_id):
        """Delete a workspace (owner only)"""
        access = project_access(project_id, Role.OWNER)
        service.delete_workspace(service.get_workspace(access, workspace_id))
        return message("Workspace deleted")
