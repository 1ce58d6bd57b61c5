-- SQLite twin of inventory/00001_create_goods.sql: same table, same columns, same constraints.
-- Times are text in SQLite's format (UTC, milliseconds); ON UPDATE CURRENT_TIMESTAMP is a trigger
-- that touches updated_at when a row's values change (its own UPDATE does not count as a change
-- of the statement that fired it).

-- +goose Up
CREATE TABLE goods (
    id          BIGINT       NOT NULL PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    price_cents BIGINT       NOT NULL,
    stock       BIGINT       NOT NULL,
    created_at  DATETIME     NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at  DATETIME     NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT goods_id_positive CHECK (id > 0),
    CONSTRAINT goods_price_not_negative CHECK (price_cents >= 0),
    CONSTRAINT goods_stock_not_negative CHECK (stock >= 0)
);

-- +goose StatementBegin
CREATE TRIGGER goods_touch_updated_at AFTER UPDATE OF name, price_cents, stock ON goods
FOR EACH ROW
WHEN NEW.name IS NOT OLD.name OR NEW.price_cents IS NOT OLD.price_cents OR NEW.stock IS NOT OLD.stock
BEGIN
    UPDATE goods SET updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER goods_touch_updated_at;
DROP TABLE goods;
