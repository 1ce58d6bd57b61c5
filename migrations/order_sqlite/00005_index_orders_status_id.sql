-- SQLite twin of order/00005_index_orders_status_id.sql: the same index.

-- +goose Up
CREATE INDEX idx_orders_status_id ON orders (status, id);

-- +goose Down
DROP INDEX idx_orders_status_id;
