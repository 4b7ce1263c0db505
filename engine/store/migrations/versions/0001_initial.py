"""The store as it was before migrations: calls, texts, receipts, opt-outs, replies.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    _calls()
    _call_events()
    _messages()
    _message_events()
    _opt_outs_and_landlines()
    _replies()


def _calls() -> None:
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("flow_id", sa.String(200), nullable=False),
        sa.Column("flow_version", sa.String(32)),
        sa.Column("line", sa.String(32), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("started_at", NOW, nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("answered", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("busy_known", sa.Boolean, nullable=False),
        sa.Column("ended_at", NOW),
        sa.Column("duration", sa.Integer),
        sa.Column("recording_url", sa.Text),
        sa.Column("bridged_step", sa.String(200)),
    )
    op.create_index("calls_by_line_time", "calls", ["line", "started_at"])
    op.create_index("calls_by_time", "calls", ["started_at", "call_sid"])
    op.create_index("calls_by_flow_time", "calls", ["flow_id", "started_at"])
    op.create_index("calls_by_caller", "calls", ["flow_id", "caller", "started_at"])


def _call_events() -> None:
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("sequence", sa.Integer),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("received_at", NOW, nullable=False),
    )
    op.create_index("ix_call_events_call_sid", "call_events", ["call_sid"])


def _messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("flow_id", sa.String(200), nullable=False),
        sa.Column("line", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(64)),
        sa.Column("body", sa.Text),
        sa.Column("encoding", sa.String(8)),
        sa.Column("segments", sa.Integer),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("error_code", sa.Integer),
        sa.Column("provider_sid", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status_callback", sa.Text),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.UniqueConstraint("call_sid", "step", name="one_text_per_step"),
    )
    op.create_index("ix_messages_provider_sid", "messages", ["provider_sid"])
    op.create_index("messages_by_caller", "messages", ["line", "to_number", "created_at"])
    op.create_index("messages_by_status", "messages", ["status"])
    op.create_index("messages_by_time", "messages", ["created_at"])


def _message_events() -> None:
    op.create_table(
        "message_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id")),
        sa.Column("message_sid", sa.String(64)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.Integer),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("received_at", NOW, nullable=False),
    )
    op.create_index("ix_message_events_message_id", "message_events", ["message_id"])


def _opt_outs_and_landlines() -> None:
    op.create_table(
        "opt_outs",
        sa.Column("line", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("since", NOW, nullable=False),
    )
    op.create_table(
        "landlines",
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("error_code", sa.Integer, nullable=False),
        sa.Column("learned_at", NOW, nullable=False),
    )


def _replies() -> None:
    op.create_table(
        "replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_sid", sa.String(64), unique=True),
        sa.Column("line", sa.String(32), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("answered", sa.Boolean, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("received_at", NOW, nullable=False),
    )
    op.create_index("replies_by_caller", "replies", ["line", "caller", "received_at"])


def downgrade() -> None:
    for table in ("replies", "landlines", "opt_outs", "message_events", "messages",
                  "call_events", "calls"):
        op.drop_table(table)
