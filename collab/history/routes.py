"""Document history: /api/v1/projects/{id}/workspaces/{wid}/documents/{did}/versions."""

from __future__ import annotations

from flask.views import MethodView

from collab.auth.identity import current_user_id
from collab.documents.routes import document_for
from collab.errors import ErrorSchema
from collab.extensions import limiter
from collab.history import service
from collab.history.schemas import (
    DiffQuerySchema,
    DiffSchema,
    RestoredSchema,
    VersionCreateSchema,
    VersionDetailSchema,
    VersionSchema,
)
from collab.http import Blueprint
from collab.models import Role
from collab.permissions import auth_required, project_errors
from collab.ratelimit import configured
from collab.schemas import PaginationSchema

blp = Blueprint(
    "history",
    __name__,
    url_prefix="/api/v1/projects/<uuid:project_id>/workspaces/<uuid:workspace_id>"
    "/documents/<uuid:document_id>/versions",
    description="A document's versions: its text as it was, who wrote it, diffs and restores",
)

version_errors = blp.alt_response(
    404, schema=ErrorSchema, description="No such project, document or version"
)
busy = blp.alt_response(
    503, schema=ErrorSchema, description="The document cannot be read right now; try again"
)
# Each version keeps a whole (compressed) text: named versions and restores, which make them
# on request, share a per-user budget, so that nobody fills the database with copies. Only
# what made something counts.
versions_made = limiter.shared_limit(
    configured("RATELIMIT_VERSIONS"),
    scope="document-versions",
    methods=["POST"],
    override_defaults=False,
    deduct_when=lambda response: response.status_code < 300,
)


@blp.route("")
class Versions(MethodView):
    decorators = [versions_made]

    @auth_required(blp)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(
        200, VersionSchema(many=True), headers={"X-Total-Count": {"schema": {"type": "integer"}}}
    )
    @version_errors
    def get(self, page, project_id, workspace_id, document_id):
        """The document's versions, newest first (without their text)"""
        document = document_for(project_id, workspace_id, document_id)
        items, total = service.versions_of(document, page["skip"], page["limit"])
        return items, {"X-Total-Count": str(total)}

    @auth_required(blp)
    @blp.arguments(VersionCreateSchema)
    @blp.response(201, VersionSchema)
    @project_errors(blp, 403)
    @version_errors
    @busy
    def post(self, data, project_id, workspace_id, document_id):
        """Keep the current text as a named version (collaborators and owner)"""
        document = document_for(project_id, workspace_id, document_id, Role.COLLABORATOR)
        return service.name_version(document, data["name"], current_user_id())


@blp.route("/<uuid:version_id>")
class VersionItem(MethodView):
    @auth_required(blp)
    @blp.response(200, VersionDetailSchema)
    @version_errors
    def get(self, project_id, workspace_id, document_id, version_id):
        """One version with its text"""
        document = document_for(project_id, workspace_id, document_id)
        return service.get_version(document, version_id)


@blp.route("/<uuid:version_id>/diff")
class VersionDiff(MethodView):
    @auth_required(blp)
    @blp.arguments(DiffQuerySchema, location="query")
    @blp.response(200, DiffSchema)
    @version_errors
    @busy
    def get(self, query, project_id, workspace_id, document_id, version_id):
        """A line diff from this version to another one or to the current text"""
        document = document_for(project_id, workspace_id, document_id)
        return service.compare(document, version_id, query["against"])


@blp.route("/<uuid:version_id>/restore")
class VersionRestore(MethodView):
    decorators = [versions_made]

    @auth_required(blp)
    @blp.response(200, RestoredSchema)
    @project_errors(blp, 403)
    @version_errors
    @busy
    def post(self, project_id, workspace_id, document_id, version_id):
        """Make the document read this version's text again, as a new edit (collaborators
        and owner)"""
        document = document_for(project_id, workspace_id, document_id, Role.COLLABORATOR)
        return service.restore(document, version_id, current_user_id())
