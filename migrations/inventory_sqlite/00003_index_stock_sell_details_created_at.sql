-- SQLite twin of inventory/00003_index_stock_sell_details_created_at.sql: the same index.

-- +goose Up
CREATE INDEX idx_stock_sell_details_created_at ON stock_sell_details (created_at);

-- +goose Down
DROP INDEX idx_stock_sell_details_created_at;
