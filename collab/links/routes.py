"""Share links: /api/v1/projects/{id}/links (the owner's) and /api/v1/links/{token}/join."""

from __future__ import annotations

from flask.views import MethodView

from collab.errors import ErrorSchema
from collab.extensions import limiter
from collab.http import Blueprint
from collab.links import service
from collab.links.schemas import CreatedLinkSchema, JoinedSchema, LinkCreateSchema, LinkSchema
from collab.models import Role
from collab.permissions import auth_required, project_access, project_errors
from collab.ratelimit import configured, ip_key
from collab.schemas import PaginationSchema

blp = Blueprint(
    "links",
    __name__,
    url_prefix="/api/v1",
    description="Share links: whoever opens one, signed in, joins the project",
)


@blp.route("/projects/<uuid:project_id>/links")
class Links(MethodView):
    @auth_required(blp)
    @blp.arguments(LinkCreateSchema)
    @blp.response(201, CreatedLinkSchema)
    @project_errors(blp, 403, 404)
    def post(self, data, project_id):
        """Make a share link with a role (owner only); its token is shown only here"""
        access = project_access(project_id, Role.OWNER)
        return service.create(access, data["role"], data["expires_in"], data["max_uses"])

    @auth_required(blp)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(
        200, LinkSchema(many=True), headers={"X-Total-Count": {"schema": {"type": "integer"}}}
    )
    @project_errors(blp, 403, 404)
    def get(self, page, project_id):
        """The project's share links with their status, newest first (owner only)"""
        access = project_access(project_id, Role.OWNER)
        items, total = service.links_of(access, page["skip"], page["limit"])
        return items, {"X-Total-Count": str(total)}


@blp.route("/projects/<uuid:project_id>/links/<uuid:link_id>")
class LinkItem(MethodView):
    @auth_required(blp)
    @blp.response(200, LinkSchema)
    @project_errors(blp, 403)
    @blp.alt_response(404, schema=ErrorSchema, description="No such project, or no such link")
    def delete(self, project_id, link_id):
        """Revoke a share link (owner only): it stays listed; members who joined stay"""
        return service.revoke(project_access(project_id, Role.OWNER), link_id)


@blp.route("/links/<token>/join")
class Join(MethodView):
    decorators = [limiter.limit(configured("RATELIMIT_LINK_JOIN"), key_func=ip_key)]

    @auth_required(blp)
    @blp.response(201, JoinedSchema, description="A new membership, with the link's role")
    @blp.alt_response(
        200,
        schema=JoinedSchema,
        success=True,
        description="Already a member: the role raised to the link's, or kept when it is "
        "as high (no use is counted then)",
    )
    @blp.alt_response(404, schema=ErrorSchema, description="No link has this token")
    @blp.alt_response(
        410, schema=ErrorSchema, description="The link expired, was revoked or is used up"
    )
    @blp.doc(
        description="Limited per client IP (RATELIMIT_LINK_JOIN, every outcome counted): "
        "429 with Retry-After past it."
    )
    def post(self, token):
        """Join a project through a share link: a member with its role (never lowered)"""
        membership, created = service.join(token)
        return membership, 201 if created else 200
