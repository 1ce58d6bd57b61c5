-- SQLite twin of order/00004_create_saga_owners.sql: the saga owners, same columns.

-- +goose Up
CREATE TABLE saga_owners (
    order_sn CHAR(32)    NOT NULL PRIMARY KEY,
    owner    VARCHAR(64) NOT NULL,
    deadline DATETIME    NOT NULL
);
CREATE INDEX idx_saga_owners_deadline ON saga_owners (deadline);

-- +goose Down
DROP TABLE saga_owners;
