-- Run once by PostgreSQL on an empty data directory: the table the app's /db reads.
CREATE TABLE notes (id serial PRIMARY KEY, note text NOT NULL);
INSERT INTO notes (note) VALUES ('opened the shop');
