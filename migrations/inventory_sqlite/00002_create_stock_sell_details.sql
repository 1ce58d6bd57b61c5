-- SQLite twin of inventory/00002_create_stock_sell_details.sql. SQLite compares text with the
-- BINARY collation by default, so order_sn is case-sensitive as with ascii_bin; JSON is text
-- checked by json_valid, as MariaDB does for its JSON type.

-- +goose Up
CREATE TABLE stock_sell_details (
    id         INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    order_sn   VARCHAR(64) NOT NULL,
    status     TINYINT     NOT NULL,
    detail     TEXT        NOT NULL,
    created_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at DATETIME    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT stock_sell_details_order_sn UNIQUE (order_sn),
    CONSTRAINT stock_sell_details_status_known CHECK (status IN (1, 2)),
    CONSTRAINT stock_sell_details_detail_json CHECK (json_valid(detail))
);

-- +goose StatementBegin
CREATE TRIGGER stock_sell_details_touch_updated_at AFTER UPDATE OF order_sn, status, detail ON stock_sell_details
FOR EACH ROW
WHEN NEW.order_sn IS NOT OLD.order_sn OR NEW.status IS NOT OLD.status OR NEW.detail IS NOT OLD.detail
BEGIN
    UPDATE stock_sell_details SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER stock_sell_details_touch_updated_at;
DROP TABLE stock_sell_details;
