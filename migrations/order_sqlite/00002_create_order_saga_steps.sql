-- SQLite twin of order/00002_create_order_saga_steps.sql: the saga timeline, same columns.

-- +goose Up
CREATE TABLE order_saga_steps (
    id       INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
    order_sn CHAR(32)     NOT NULL,
    step     VARCHAR(32)  NOT NULL,
    detail   VARCHAR(512) NOT NULL DEFAULT '',
    at       DATETIME     NOT NULL
);
CREATE INDEX idx_order_saga_steps_order_sn_id ON order_saga_steps (order_sn, id);

-- +goose Down
DROP TABLE order_saga_steps;
