-- Run once by PostgreSQL on an empty data directory: the table the API's /db reads.
CREATE TABLE notes (id serial PRIMARY KEY, note text NOT NULL);
INSERT INTO notes (note) VALUES ('first party'), ('second party');
