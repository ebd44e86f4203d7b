-- The first schema: events and their RSVPs (the decay cycle lowers their score hourly).
CREATE TABLE events (id serial PRIMARY KEY, title text NOT NULL);
CREATE TABLE rsvps (
  id serial PRIMARY KEY,
  event_id integer NOT NULL REFERENCES events (id),
  name text NOT NULL,
  score real NOT NULL DEFAULT 1.0
);
INSERT INTO events (title) VALUES ('launch party');
INSERT INTO rsvps (event_id, name) VALUES (1, 'ada'), (1, 'grace');
