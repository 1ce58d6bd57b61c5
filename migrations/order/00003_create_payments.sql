-- Payments reported by the payment provider's signed notify (POST /v1/payments/notify), one row
-- per provider trade_no: the notify is idempotent per trade_no. status: 'applied' (it paid the
-- order), 'duplicate_to_refund' (a second trade for an order already paid) or 'to_refund' (the
-- order had been closed by its payment timeout: the money goes back, the order stays closed).
-- amount_cents is integer cents. No foreign key to orders (as order_saga_steps), but only a
-- notify for an existing order is recorded.

-- +goose Up
CREATE TABLE payments (
    trade_no     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    order_sn     CHAR(32)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    amount_cents BIGINT       NOT NULL,
    status       VARCHAR(32)  NOT NULL,
    notify_time  DATETIME(6)  NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (trade_no),
    KEY idx_payments_order_sn (order_sn),
    CONSTRAINT chk_payments_status CHECK (status IN ('applied', 'duplicate_to_refund', 'to_refund')),
    CONSTRAINT chk_payments_amount CHECK (amount_cents >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE payments;
