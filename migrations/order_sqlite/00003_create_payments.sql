-- SQLite twin of order/00003_create_payments.sql: the provider's payments, same columns.

-- +goose Up
CREATE TABLE payments (
    trade_no     VARCHAR(64) NOT NULL PRIMARY KEY,
    order_sn     CHAR(32)    NOT NULL,
    amount_cents BIGINT      NOT NULL CHECK (amount_cents >= 0),
    status       VARCHAR(32) NOT NULL CHECK (status IN ('applied', 'duplicate_to_refund', 'to_refund')),
    notify_time  DATETIME    NOT NULL,
    created_at   DATETIME    NOT NULL
);
CREATE INDEX idx_payments_order_sn ON payments (order_sn);

-- +goose Down
DROP TABLE payments;
