"""history and share links: update authors, document versions, project share links

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 05:26:13.321926

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("document_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.Uuid(), nullable=True))

    # Existing documents have no version yet: the first versioning pass makes one of each.
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("versioned_seq", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("unversioned_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("pending_authors", sa.JSON(), nullable=False, server_default="[]")
        )
    # Existing content has no version yet: the versioning pass finds it by this column.
    op.execute("UPDATE documents SET unversioned_since = updated_at WHERE last_seq > 0")
    # Only the documents with edits no version has: what the versioning pass looks for.
    op.create_index(
        "ix_documents_unversioned",
        "documents",
        ["unversioned_since"],
        unique=False,
        postgresql_where=sa.text("unversioned_since IS NOT NULL"),
        sqlite_where=sa.text("unversioned_since IS NOT NULL"),
    )

    op.create_table(
        "document_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("restored_from", sa.Uuid(), nullable=True),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_versions_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_versions")),
    )
    op.create_index(
        "ix_document_versions_document_id_seq",
        "document_versions",
        ["document_id", "seq"],
        unique=False,
    )

    op.create_table(
        "share_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "viewer",
                "collaborator",
                "owner",
                name="link_role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_share_links_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_share_links_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_share_links_token_hash")),
    )
    op.create_index(
        op.f("ix_share_links_project_id"), "share_links", ["project_id"], unique=False
    )


def downgrade():
    # SQLite rebuilds a table to drop a column: with foreign keys enforced (collab/database.py),
    # dropping the old `documents` would cascade to every document's updates.
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    op.drop_index(op.f("ix_share_links_project_id"), table_name="share_links")
    op.drop_table("share_links")
    op.drop_index("ix_document_versions_document_id_seq", table_name="document_versions")
    op.drop_table("document_versions")
    op.drop_index("ix_documents_unversioned", table_name="documents")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("pending_authors")
        batch_op.drop_column("unversioned_since")
        batch_op.drop_column("versioned_seq")
    with op.batch_alter_table("document_updates", schema=None) as batch_op:
        batch_op.drop_column("author_id")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
