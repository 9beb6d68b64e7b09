-- Rule-set versions (规则版本): published workflow definitions, time limits and holiday
-- calendars, one row per version held (the shipped files are version 1 and have no row).
CREATE TABLE rule_sets (
    rule    TEXT NOT NULL,
    version INTEGER NOT NULL,
    json    TEXT NOT NULL,
    doc_id  TEXT NOT NULL,
    PRIMARY KEY (rule, version)
) STRICT;

-- The rule versions a case pins (absent in its document = 1): a rule-set version arriving
-- re-materializes the cases that pin it or a later one.
ALTER TABLE cases ADD COLUMN workflow_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cases ADD COLUMN time_limits_version INTEGER NOT NULL DEFAULT 1;
