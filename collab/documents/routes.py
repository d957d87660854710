"""Documents: /api/v1/projects/{id}/workspaces/{wid}/documents."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from collab.documents import service
from collab.documents.schemas import (
    ContentWrittenSchema,
    DocumentContentSchema,
    DocumentCreateSchema,
    DocumentDetailSchema,
    DocumentSchema,
    DocumentUpdateSchema,
)
from collab.errors import ErrorSchema
from collab.etags import etag_header
from collab.http import Blueprint
from collab.models import Document, Role, Workspace
from collab.permissions import auth_required, project_access, project_errors
from collab.schemas import MessageSchema, PaginationSchema, message
from collab.workspaces.service import get_workspace

blp = Blueprint(
    "documents",
    __name__,
    url_prefix="/api/v1/projects/<uuid:project_id>/workspaces/<uuid:workspace_id>/documents",
    description="Documents inside a workspace, edited together in real time",
)

name_conflict = blp.alt_response(
    409, schema=ErrorSchema, description="Another document of the workspace has this name"
)


def workspace_for(
    project_id: uuid.UUID, workspace_id: uuid.UUID, needed: Role | None = None
) -> Workspace:
    """The workspace, if the caller's role in its project is at least `needed` (404/403)."""
    return get_workspace(project_access(project_id, needed), workspace_id)


def document_for(
    project_id: uuid.UUID,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    needed: Role | None = None,
) -> Document:
    return service.get_document(workspace_for(project_id, workspace_id, needed), document_id)


@blp.route("")
class Documents(MethodView):
    @auth_required(blp)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(
        200,
        DocumentSchema(many=True),
        headers={"X-Total-Count": {"schema": {"type": "integer"}}},
    )
    @project_errors(blp, 404)
    def get(self, page, project_id, workspace_id):
        """The workspace's documents, oldest first (without their content)"""
        workspace = workspace_for(project_id, workspace_id)
        items, total = service.documents_of(workspace, page["skip"], page["limit"])
        return items, {"X-Total-Count": str(total)}

    @auth_required(blp)
    @blp.arguments(DocumentCreateSchema)
    @blp.response(201, DocumentSchema)
    @project_errors(blp, 403, 404, 413)
    @name_conflict
    def post(self, data, project_id, workspace_id):
        """Create a document, empty or with a first text (collaborators and owner)"""
        workspace = workspace_for(project_id, workspace_id, Role.COLLABORATOR)
        document = service.create_document(workspace, data["name"], data["content"])
        location = (
            f"/api/v1/projects/{project_id}/workspaces/{workspace_id}/documents/{document.id}"
        )
        return document, {"Location": location, **etag_header(document)}


@blp.route("/<uuid:document_id>")
class DocumentItem(MethodView):
    @auth_required(blp)
    @blp.response(200, DocumentDetailSchema)
    @project_errors(blp, 404)
    def get(self, project_id, workspace_id, document_id):
        """One document with its current text"""
        document = document_for(project_id, workspace_id, document_id)
        return service.detail(document), etag_header(document)

    @auth_required(blp)
    @blp.arguments(DocumentUpdateSchema)
    @blp.response(200, DocumentSchema)
    @project_errors(blp, 403, 404, 412)
    @name_conflict
    def patch(self, changes, project_id, workspace_id, document_id):
        """Rename a document (collaborators and owner)"""
        document = document_for(project_id, workspace_id, document_id, Role.COLLABORATOR)
        document = service.rename_document(document, changes["name"])
        return document, etag_header(document)

    @auth_required(blp)
    @blp.response(200, MessageSchema)
    @project_errors(blp, 403, 404, 412)
    def delete(self, project_id, workspace_id, document_id):
        """Delete a document and its content (collaborators and owner)"""
        document = document_for(project_id, workspace_id, document_id, Role.COLLABORATOR)
        service.delete_document(document)
        return message("Document deleted")


@blp.route("/<uuid:document_id>/content")
class DocumentContent(MethodView):
    @auth_required(blp)
    @blp.arguments(DocumentContentSchema)
    @blp.response(200, ContentWrittenSchema)
    @project_errors(blp, 403, 404, 412, 413)
    def put(self, data, project_id, workspace_id, document_id):
        """Replace the text, editing only what differs (collaborators and owner)"""
        document = document_for(project_id, workspace_id, document_id, Role.COLLABORATOR)
        return service.write_content(document, data["content"]), etag_header(document)
