-- gridbook phone store, schema version 1. Shipped migrations are frozen: add a new file.

-- Device identity and settings.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One Automerge document per record (saved, compacted form).
CREATE TABLE docs (
    id    TEXT PRIMARY KEY,
    kind  TEXT,
    scope TEXT,
    bytes BLOB NOT NULL,
    heads TEXT NOT NULL
) STRICT;

-- Remote changes whose dependencies have not arrived yet: kept, never dropped.
CREATE TABLE pending_changes (
    doc_id TEXT NOT NULL,
    hash   TEXT NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, hash)
) STRICT;

-- Local changes not yet acknowledged by the server, in the order they were made.
CREATE TABLE outbox (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    hash   TEXT NOT NULL UNIQUE,
    bytes  BLOB NOT NULL
) STRICT;

-- Records the server rejected: kept for review, never silently dropped.
CREATE TABLE quarantine (
    doc_id TEXT NOT NULL,
    hash   TEXT NOT NULL,
    code   TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (doc_id, hash)
) STRICT;

-- Per-scope sync cursors (last server sequence number seen).
CREATE TABLE sync_cursors (
    scope  TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL
) STRICT;

-- Photos and attachments, content-addressed.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
) STRICT;

-- ---- Query tables: derived from documents, rebuilt on every local change and merge. ----

CREATE TABLE records (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    scope           TEXT NOT NULL,
    schema          INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    deleted         INTEGER NOT NULL,
    delete_conflict INTEGER NOT NULL,
    invalid         TEXT
) STRICT;
CREATE INDEX records_scope ON records (scope, kind);

CREATE TABLE field_conflicts (
    doc_id      TEXT NOT NULL,
    path        TEXT NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (doc_id, path)
) STRICT;

CREATE TABLE org_nodes (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    level          TEXT NOT NULL,
    code           TEXT NOT NULL,
    parent         TEXT,
    effective_from TEXT NOT NULL,
    effective_to   TEXT
) STRICT;
CREATE INDEX org_nodes_parent ON org_nodes (parent);

CREATE TABLE households (
    id            TEXT PRIMARY KEY,
    grid_id       TEXT NOT NULL,
    building      TEXT NOT NULL,
    unit          TEXT NOT NULL,
    room          TEXT NOT NULL,
    address       TEXT NOT NULL,
    housing_use   TEXT NOT NULL,
    registered_on TEXT NOT NULL
) STRICT;
CREATE INDEX households_grid ON households (grid_id);

CREATE TABLE household_grids (
    household_id TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    from_date    TEXT NOT NULL,
    PRIMARY KEY (household_id, from_date, grid_id)
) STRICT;

CREATE TABLE persons (
    id               TEXT PRIMARY KEY,
    household_id     TEXT NOT NULL,
    grid_id          TEXT NOT NULL,
    name_masked      TEXT NOT NULL,
    id_number_masked TEXT,
    phone_masked     TEXT,
    relation         TEXT NOT NULL,
    birth_date       TEXT
) STRICT;
CREATE INDEX persons_household ON persons (household_id);

CREATE TABLE person_labels (
    person_id   TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    label       TEXT NOT NULL,
    category    TEXT NOT NULL,
    start_date  TEXT NOT NULL,
    end_date    TEXT,
    attention   TEXT NOT NULL,
    responsible TEXT,
    PRIMARY KEY (person_id, idx)
) STRICT;
CREATE INDEX person_labels_label ON person_labels (label);

CREATE TABLE house_calls (
    id               TEXT PRIMARY KEY,
    grid_id          TEXT NOT NULL,
    household_id     TEXT NOT NULL,
    visitor          TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    ended_at         TEXT NOT NULL,
    day              TEXT NOT NULL,
    template_id      TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    answer_count     INTEGER NOT NULL,
    follow_up_due    TEXT
) STRICT;
CREATE INDEX house_calls_household ON house_calls (household_id, day);
CREATE INDEX house_calls_visitor ON house_calls (visitor, day);

CREATE TABLE patrols (
    id           TEXT PRIMARY KEY,
    grid_id      TEXT NOT NULL,
    worker       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    day          TEXT NOT NULL,
    track_points INTEGER NOT NULL,
    checkins     INTEGER NOT NULL
) STRICT;
CREATE INDEX patrols_worker ON patrols (worker, day);

-- Problems found on house calls and patrols (ledger counts come from here).
CREATE TABLE problems (
    doc_id         TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    grid_id        TEXT NOT NULL,
    worker         TEXT NOT NULL,
    day            TEXT NOT NULL,
    kind           TEXT NOT NULL,
    solved_on_spot INTEGER NOT NULL,
    reported       INTEGER NOT NULL,
    PRIMARY KEY (doc_id, idx)
) STRICT;
CREATE INDEX problems_worker ON problems (worker, day);

CREATE TABLE ledgers (
    id             TEXT PRIMARY KEY,
    grid_id        TEXT NOT NULL,
    worker         TEXT NOT NULL,
    day            TEXT NOT NULL,
    review_state   TEXT NOT NULL,
    review_comment TEXT,
    flagged        INTEGER NOT NULL
) STRICT;
CREATE INDEX ledgers_worker ON ledgers (worker, day);

CREATE TABLE cases (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    category     TEXT NOT NULL,
    subcategory  TEXT,
    scale        TEXT NOT NULL,
    title        TEXT NOT NULL,
    reporter     TEXT NOT NULL,
    channel      TEXT,
    occurred_at  TEXT NOT NULL,
    state        TEXT NOT NULL,
    transitions  INTEGER NOT NULL,
    conflicts    INTEGER NOT NULL,
    deadline     TEXT,
    summary_json TEXT NOT NULL
) STRICT;
CREATE INDEX cases_grid ON cases (grid_id, state);

CREATE TABLE templates (
    template_id TEXT NOT NULL,
    version     INTEGER NOT NULL,
    json        TEXT NOT NULL,
    doc_id      TEXT,
    PRIMARY KEY (template_id, version)
) STRICT;
