"""document_quarantine: stored updates set aside because they could not be applied

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "document_quarantine",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_quarantine_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_quarantine")),
    )
    op.create_index(
        op.f("ix_document_quarantine_document_id"),
        "document_quarantine",
        ["document_id"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_document_quarantine_document_id"), table_name="document_quarantine")
    op.drop_table("document_quarantine")
