-- The saga timeline: one row per step of an order's saga (half message sent, stock deducted,
-- local commit or failure, half message decided, check-back asked and answered, timeout
-- scheduled and fired, paid or closed, stock return requested). Append-only; read back ordered
-- by id. There is no foreign key to orders on purpose: an order whose local transaction failed
-- has no order row, but still has a timeline. step is one of the closed set in
-- order_srv/internal/app/timeline.go; at has millisecond precision or better.

-- +goose Up
CREATE TABLE order_saga_steps (
    id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_sn CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    step     VARCHAR(32)     NOT NULL,
    detail   VARCHAR(512)    NOT NULL DEFAULT '',
    at       DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    KEY idx_order_saga_steps_order_sn_id (order_sn, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE order_saga_steps;
