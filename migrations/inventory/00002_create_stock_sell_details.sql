-- Stock sell details: the durable record of what one order deducted, one row per order_sn.
-- status 1 = deducted, 2 = returned; a row is only ever moved 1 -> 2 (compare-and-set).
-- A row created by a reback for an order that was never sold has status 2 and no items: it
-- fences the order_sn so that a late sell cannot deduct after the reback.
-- detail is the JSON array of sold items with the unit prices charged, so a retried sell answers
-- exactly what the first one did and a reback returns exactly what was deducted.
-- order_sn is ASCII with a binary collation: order numbers are case-sensitive identifiers.

-- +goose Up
CREATE TABLE stock_sell_details (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    order_sn   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    status     TINYINT     NOT NULL,
    detail     JSON        NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY stock_sell_details_order_sn (order_sn),
    CONSTRAINT stock_sell_details_status_known CHECK (status IN (1, 2))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE stock_sell_details;
