-- 2: 分派: the cases dispatched to each department, and the log position of each case's latest
-- change, so a department's devices pull exactly those cases (as whole documents).
CREATE TABLE case_departments (
    department TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    last_seq   INTEGER NOT NULL,
    PRIMARY KEY (department, doc_id)
) STRICT;
CREATE INDEX case_departments_seq ON case_departments (department, last_seq);
CREATE INDEX case_departments_doc ON case_departments (doc_id);
