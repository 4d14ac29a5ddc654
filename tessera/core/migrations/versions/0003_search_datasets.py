"""search (full-text index) and datasets

Revision ID: 0003_search_datasets
Revises: 0001

Full-text search: on SQLite an FTS5 table ``item_fts`` (rowid = file id), on
PostgreSQL a table ``item_search`` with a tsvector and a GIN index. Both are
kept up to date by triggers on ``files`` and ``source_records``, so no writer
has to remember them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_search_datasets"
down_revision: str | Sequence[str] | None = "0002_taxonomy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# one document per file: its own title/creator plus its record's title, creator, description, keywords
_SQLITE_DOC = (
    "SELECT f.id, coalesce(f.title, ''), coalesce(f.creator, ''), "
    "coalesce(r.title, '') || ' ' || coalesce(r.description, ''), "
    "coalesce(r.creator, '') || ' ' || coalesce(r.keywords, '') "
    "FROM files f JOIN source_records r ON r.id = f.record_id"
)
_PG_DOC = (
    "SELECT f.id, to_tsvector('simple', coalesce(f.title, '') || ' ' || coalesce(f.creator, '') || ' ' || "
    "coalesce(r.title, '') || ' ' || coalesce(r.creator, '') || ' ' || coalesce(r.description, '') || ' ' || "
    "coalesce(r.keywords::text, '')) FROM files f JOIN source_records r ON r.id = f.record_id"
)


def _sqlite_upgrade() -> None:
    op.execute("CREATE VIRTUAL TABLE item_fts USING fts5(title, creator, description, keywords, "
               "tokenize = 'unicode61 remove_diacritics 2')")
    op.execute(f"INSERT INTO item_fts(rowid, title, creator, description, keywords) {_SQLITE_DOC}")
    op.execute(f"""CREATE TRIGGER item_fts_files_ins AFTER INSERT ON files BEGIN
        INSERT INTO item_fts(rowid, title, creator, description, keywords) {_SQLITE_DOC} WHERE f.id = NEW.id;
    END""")
    op.execute(f"""CREATE TRIGGER item_fts_files_upd AFTER UPDATE OF title, creator, record_id ON files BEGIN
        DELETE FROM item_fts WHERE rowid = OLD.id;
        INSERT INTO item_fts(rowid, title, creator, description, keywords) {_SQLITE_DOC} WHERE f.id = NEW.id;
    END""")
    op.execute("""CREATE TRIGGER item_fts_files_del AFTER DELETE ON files BEGIN
        DELETE FROM item_fts WHERE rowid = OLD.id;
    END""")
    op.execute(f"""CREATE TRIGGER item_fts_records_upd
        AFTER UPDATE OF title, creator, description, keywords ON source_records BEGIN
        DELETE FROM item_fts WHERE rowid IN (SELECT id FROM files WHERE record_id = NEW.id);
        INSERT INTO item_fts(rowid, title, creator, description, keywords) {_SQLITE_DOC} WHERE r.id = NEW.id;
    END""")


def _pg_upgrade() -> None:
    op.create_table(
        "item_search",
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("document", sa.dialects.postgresql.TSVECTOR(), nullable=False),
    )
    op.create_index("ix_item_search_document", "item_search", ["document"], postgresql_using="gin")
    op.execute(f"INSERT INTO item_search(file_id, document) {_PG_DOC}")
    op.execute(f"""CREATE FUNCTION tessera_item_search_file() RETURNS trigger AS $$
    BEGIN
        INSERT INTO item_search(file_id, document) {_PG_DOC} WHERE f.id = NEW.id
        ON CONFLICT (file_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""")
    op.execute(f"""CREATE FUNCTION tessera_item_search_record() RETURNS trigger AS $$
    BEGIN
        INSERT INTO item_search(file_id, document) {_PG_DOC} WHERE r.id = NEW.id
        ON CONFLICT (file_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""")
    op.execute("CREATE TRIGGER item_search_files AFTER INSERT OR UPDATE OF title, creator, record_id ON files "
               "FOR EACH ROW EXECUTE FUNCTION tessera_item_search_file()")
    op.execute("CREATE TRIGGER item_search_records AFTER UPDATE OF title, creator, description, keywords "
               "ON source_records FOR EACH ROW EXECUTE FUNCTION tessera_item_search_record()")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _pg_upgrade()

    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("slug", name="uq_dataset_slug"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("origin", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),
    )
    op.create_table(
        "dataset_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        # no foreign key: a snapshot must survive its file leaving the catalogue
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("start", sa.Float(), nullable=True),
        sa.Column("end", sa.Float(), nullable=True),
        sa.Column("md5", sa.String(32), nullable=False),
    )
    op.create_index("ix_dataset_members_version", "dataset_members", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_dataset_members_version", table_name="dataset_members")
    op.drop_table("dataset_members")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
    if op.get_bind().dialect.name == "sqlite":
        for trig in ("item_fts_files_ins", "item_fts_files_upd", "item_fts_files_del", "item_fts_records_upd"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS item_fts")
    else:
        op.execute("DROP TRIGGER IF EXISTS item_search_files ON files")
        op.execute("DROP TRIGGER IF EXISTS item_search_records ON source_records")
        op.execute("DROP FUNCTION IF EXISTS tessera_item_search_file()")
        op.execute("DROP FUNCTION IF EXISTS tessera_item_search_record()")
        op.drop_table("item_search")
