"""initial registry: users, sessions, requests, targets, review tasks, decisions, audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the registry tables, their indexes and the append-only triggers."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("role in ('reviewer', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("release_id", sa.String(128)),
        sa.Column("contact", sa.String(320), nullable=False),
        sa.Column("relationship_to_child", sa.String(64), nullable=False),
        sa.Column("child_name_initials", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("matched", sa.Integer, nullable=False, server_default="0"),
        sa.Column("matching_done", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status in ('received', 'under_review', 'removal_scheduled', 'removed', 'not_found')",
            name="ck_requests_status",
        ),
    )
    op.create_table(
        "request_targets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_request_targets_request", "request_targets", ["request_id"])
    op.create_table(
        "review_tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("task_key", sa.String(400), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id")),
        sa.Column("shard_id", sa.String(300), nullable=False),
        sa.Column("row_index", sa.BigInteger, nullable=False),
        sa.Column("url_sha256", sa.String(64)),
        sa.Column("laion_hash", sa.BigInteger),
        sa.Column("risk", sa.String(24), nullable=False),
        sa.Column("risk_rank", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128)),
        sa.Column("reasons", sa.JSON),
        sa.Column("match_kind", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("task_key", name="uq_review_tasks_key"),
    )
    op.create_index("ix_review_tasks_queue", "review_tasks", ["status", "risk_rank", "id"])
    op.create_index("ix_review_tasks_request", "review_tasks", ["request_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("review_tasks.id"), nullable=False),
        sa.Column("shard_id", sa.String(300), nullable=False),
        sa.Column("row_index", sa.BigInteger, nullable=False),
        sa.Column("url_sha256", sa.String(64)),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("request_id", sa.String(36)),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.CheckConstraint(
            "decision in ('remove', 'keep', 'escalate')", name="ck_decisions_decision"
        ),
    )
    op.create_index("ix_decisions_row", "decisions", ["shard_id", "row_index", "decided_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(400)),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "imported_findings",
        sa.Column("shard_id", sa.String(300), primary_key=True),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
    )
    _append_only("audit_log")
    _append_only("decisions")


def _append_only(table: str) -> None:
    """The audit log and the decisions are history: the database itself refuses edits."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION childguard_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION childguard_append_only()"
        )


def downgrade() -> None:
    """Drop every registry table (and trigger) this revision created."""
    dialect = op.get_bind().dialect.name
    for table in ("decisions", "audit_log"):
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    for table in (
        "imported_findings",
        "audit_log",
        "decisions",
        "review_tasks",
        "request_targets",
        "requests",
        "web_sessions",
        "users",
    ):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS childguard_append_only()")
