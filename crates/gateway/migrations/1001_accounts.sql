-- Who may log in. The gateway is the only service that sees passwords; every other service trusts
-- the signed token it issues. subject_id is the id the owning service knows the person by
-- (customer, owner, rider or admin id), unique so two logins never act as the same subject.
CREATE TABLE accounts (
    username      TEXT   PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    subject_id    TEXT   NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL
);
