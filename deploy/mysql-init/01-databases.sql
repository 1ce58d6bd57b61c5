-- Run once, when the mysql service initialises its data volume (docker-entrypoint-initdb.d).
-- The application user `shopsaga` exists already: the image creates it from MYSQL_USER and
-- MYSQL_PASSWORD before it runs this file. Each service owns one database and migrates its own
-- schema at start-up (migrations/); the user gets no other privileges.
CREATE DATABASE IF NOT EXISTS inventory CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS orders CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON inventory.* TO 'shopsaga'@'%';
GRANT ALL PRIVILEGES ON orders.* TO 'shopsaga'@'%';
