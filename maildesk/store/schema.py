"""Named migrations that build and evolve the SQLite schema."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("maildesk")


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    _run(db, """
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            subject TEXT NOT NULL,
            requester TEXT,
            status TEXT NOT NULL,
            tier TEXT NOT NULL,
            priority TEXT NOT NULL DEFAULT 'normal',
            assignee TEXT,
            mailbox TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            message_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX tickets_status_tier ON tickets(status, tier);
        CREATE INDEX tickets_updated ON tickets(updated_at);

        CREATE TABLE participants (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            address TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (ticket_id, address)
        );


        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            message_id TEXT,
            raw_hash TEXT NOT NULL,
            direction TEXT NOT NULL,
            sender TEXT,
            sender_name TEXT NOT NULL DEFAULT '',
            recipients TEXT NOT NULL DEFAULT '[]',
            date TEXT,
            subject TEXT NOT NULL DEFAULT '',
            body_text TEXT NOT NULL DEFAULT '',
            new_text TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT 'human',
            kind_reasons TEXT NOT NULL DEFAULT '[]',
            thread_reason TEXT NOT NULL,
            thread_detail TEXT NOT NULL DEFAULT '',
            mailbox TEXT,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX messages_message_id ON messages(message_id);
        CREATE INDEX messages_raw_hash ON messages(raw_hash) WHERE message_id IS NULL;

        CREATE TABLE message_raw (
            message_pk INTEGER PRIMARY KEY REFERENCES messages(id),
            data BLOB NOT NULL
        );
        CREATE INDEX messages_ticket ON messages(ticket_id, id);

        CREATE TABLE message_refs (
            ref TEXT NOT NULL,
            ticket_id INTEGER NOT NULL,
            own INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX message_refs_ref ON message_refs(ref);

        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_pk INTEGER NOT NULL REFERENCES messages(id),
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            path TEXT NOT NULL,
            content_id TEXT NOT NULL DEFAULT '',
            inline INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX attachments_message ON attachments(message_pk);

        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            raw_hash TEXT NOT NULL,
            message_id TEXT,
            mailbox TEXT,
            kind TEXT NOT NULL,
            reason TEXT NOT NULL,
            ticket_id INTEGER,
            sender TEXT,
            subject TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'held',
            retries INTEGER NOT NULL DEFAULT 0,
            released_message_pk INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX quarantine_message_id ON quarantine(message_id);
        CREATE INDEX quarantine_raw_hash ON quarantine(raw_hash);
        CREATE INDEX quarantine_status ON quarantine(status, id);

        CREATE TABLE quarantine_raw (
            quarantine_id INTEGER PRIMARY KEY REFERENCES quarantine(id),
            data BLOB NOT NULL
        );

        CREATE TABLE receipts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            mailbox TEXT NOT NULL,
            ref TEXT NOT NULL,
            uidvalidity INTEGER,
            uid INTEGER,
            raw_hash TEXT NOT NULL,
            outcome TEXT NOT NULL,
            message_pk INTEGER,
            quarantine_id INTEGER,
            settled INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX receipts_origin ON receipts(mailbox, ref);
        CREATE INDEX receipts_uid ON receipts(mailbox, uidvalidity, uid);
        CREATE INDEX receipts_unsettled ON receipts(mailbox) WHERE settled = 0;

        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            old TEXT,
            new TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_ticket ON events(ticket_id, id);

        CREATE TABLE mailbox_state (
            mailbox TEXT PRIMARY KEY,
            uidvalidity INTEGER,
            updated_at TEXT NOT NULL
        );
        """)


def _run(db: Database, script: str) -> None:
    """Run statements one by one (executescript would commit the migration's transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations(name="0002_outbox")
def outbox(db: Database) -> None:
    _run(db, """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER,
            kind TEXT NOT NULL,
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL,
            envelope_from TEXT NOT NULL,
            data BLOB NOT NULL,
            smtputf8 INTEGER NOT NULL DEFAULT 0,
            automatic INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE UNIQUE INDEX outbox_message_id ON outbox(message_id);
        CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status IN ('queued', 'sending');
        CREATE INDEX outbox_recipient ON outbox(recipient, created_at);

        CREATE TABLE suppressions (
            address TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            since TEXT NOT NULL
        );
        """)


@migrations(name="0003_outbox_by_ticket")
def outbox_by_ticket(db: Database) -> None:
    """`tickets show` lists a ticket's notices."""
    _run(db, "CREATE INDEX outbox_ticket ON outbox(ticket_id, id)")


@migrations(name="0004_routing")
def routing(db: Database) -> None:
    """Tags, the SLA policy name, per-tier assignment state, and the index behind the queues."""
    _run(db, """
        ALTER TABLE tickets ADD COLUMN sla TEXT;
        CREATE TABLE ticket_tags (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            tag TEXT NOT NULL,
            PRIMARY KEY (ticket_id, tag)
        );
        CREATE INDEX ticket_tags_tag ON ticket_tags(tag);
        CREATE TABLE tier_rotation (
            tier TEXT PRIMARY KEY,
            last_agent TEXT NOT NULL
        );
        CREATE INDEX tickets_queue ON tickets(tier, status, created_at);
        CREATE INDEX tickets_assignee ON tickets(assignee, status) WHERE assignee IS NOT NULL
        """)


@migrations(name="0005_ticket_links")
def ticket_links(db: Database) -> None:
    """Incidents of a problem ticket, and follow-ups of a ticket closed before its customer wrote again."""
    _run(db, """
        CREATE TABLE ticket_links (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            other_id INTEGER NOT NULL REFERENCES tickets(id),
            kind TEXT NOT NULL,
            linked_at TEXT NOT NULL,
            PRIMARY KEY (ticket_id, kind)
        );
        CREATE INDEX ticket_links_other ON ticket_links(other_id, kind)
        """)


@migrations(name="0006_csat")
def csat(db: Database) -> None:
    """Customer satisfaction: one rating per resolution of a ticket; a later one replaces it."""
    _run(db, """
        CREATE TABLE csat (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            resolution_event INTEGER NOT NULL,
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            comment TEXT NOT NULL DEFAULT '',
            rated_by TEXT NOT NULL,
            rated_at TEXT NOT NULL,
            PRIMARY KEY (ticket_id, resolution_event)
        )
        """)


@migrations(name="0007_knowledge_base")
def knowledge_base(db: Database) -> None:
    """Knowledge articles made from resolutions, searchable with FTS5 (kept in step by triggers)."""
    _run(db, """
        CREATE TABLE kb_articles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            symptoms TEXT NOT NULL DEFAULT '',
            resolution TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            source_ticket INTEGER REFERENCES tickets(id),
            status TEXT NOT NULL DEFAULT 'draft',
            author TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX kb_articles_status ON kb_articles(status, id);
        CREATE VIRTUAL TABLE kb_fts USING fts5(title, symptoms, resolution, tags, content='kb_articles',
                                               content_rowid='id', tokenize='unicode61 remove_diacritics 2')
        """)
    columns = "title, symptoms, resolution, tags"
    insert = f"INSERT INTO kb_fts(rowid, {columns}) VALUES (new.id, new.title, new.symptoms, new.resolution, new.tags);"
    delete = (f"INSERT INTO kb_fts(kb_fts, rowid, {columns}) "
              "VALUES ('delete', old.id, old.title, old.symptoms, old.resolution, old.tags);")
    for name, when, body in (("kb_ai", "AFTER INSERT", insert), ("kb_ad", "AFTER DELETE", delete),
                             ("kb_au", "AFTER UPDATE", delete + " " + insert)):
        db.execute(f"CREATE TRIGGER {name} {when} ON kb_articles BEGIN {body} END")


@migrations(name="0008_sla_timers")
def sla_timers(db: Database) -> None:
    """When each ticket's next SLA event is due; a timer pass reads only the due ones."""
    _run(db, """
        CREATE TABLE sla_timers (
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            kind TEXT NOT NULL,
            due_at TEXT NOT NULL,
            fired_at TEXT,
            PRIMARY KEY (ticket_id, kind)
        );
        CREATE INDEX sla_timers_due ON sla_timers(due_at) WHERE fired_at IS NULL
        """)


@migrations(name="0009_operations")
def operations(db: Database) -> None:
    """OAuth2 tokens (encrypted), each mailbox's health, and the daemon's heartbeat."""
    _run(db, """
        CREATE TABLE oauth_tokens (
            name TEXT PRIMARY KEY,
            subject TEXT NOT NULL,
            refresh_token BLOB,
            access_token BLOB,
            expires_at TEXT,
            updated_at TEXT NOT NULL,
            rotations INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE mailbox_health (
            mailbox TEXT PRIMARY KEY,
            connected INTEGER NOT NULL DEFAULT 0,
            last_fetch_at TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            last_error_at TEXT,
            failing_since TEXT,
            uidvalidity INTEGER,
            on_server INTEGER,
            waiting INTEGER,
            missing INTEGER,
            missing_refs TEXT NOT NULL DEFAULT '[]',
            reconciled_at TEXT,
            alerted TEXT NOT NULL DEFAULT '',
            alerted_at TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX outbox_status ON outbox(status);
        CREATE INDEX events_sla_breach ON events(kind) WHERE kind = 'sla-breach';
        CREATE TABLE service_state (
            name TEXT PRIMARY KEY,
            pid INTEGER,
            version TEXT NOT NULL DEFAULT '',
            started_at TEXT,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT
        )
        """)


@migrations(name="0010_message_sender_role")
def message_sender_role(db: Database) -> None:
    """How each message's sender stood to its ticket: requester, cc, agent or stranger."""
    _run(db, "ALTER TABLE messages ADD COLUMN sender_role TEXT NOT NULL DEFAULT ''")


@migrations(name="0011_files_sent")
def files_sent(db: Database) -> None:
    """Which stored files each person has been sent about a ticket: a file goes once per agent per ticket."""
    _run(db, """
        CREATE TABLE files_sent (
            ticket_id INTEGER NOT NULL,
            recipient TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (ticket_id, recipient, sha256)
        ) WITHOUT ROWID
        """)


@migrations(name="0012_requests")
def requests(db: Database) -> None:
    """Agents' questions to the desk that open no ticket (``#queue`` to a personal address), kept raw,
    and the receipt column that points at them."""
    _run(db, """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            sender TEXT NOT NULL,
            message_id TEXT,
            raw_hash TEXT NOT NULL,
            mailbox TEXT,
            subject TEXT NOT NULL DEFAULT '',
            commands TEXT NOT NULL DEFAULT '[]',
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            raw BLOB NOT NULL
        );
        CREATE INDEX requests_message_id ON requests(message_id);
        CREATE INDEX requests_raw_hash ON requests(raw_hash);
        ALTER TABLE receipts ADD COLUMN request_id INTEGER
        """)


@migrations(name="0013_digests")
def digests(db: Database) -> None:
    """Which agent had which day's digest: one per agent per local working day, even across processes."""
    _run(db, """
        CREATE TABLE digests (
            agent TEXT NOT NULL,
            day TEXT NOT NULL,
            tickets INTEGER NOT NULL,
            outbox_id INTEGER,
            made_at TEXT NOT NULL,
            PRIMARY KEY (day, agent)
        ) WITHOUT ROWID
        """)
