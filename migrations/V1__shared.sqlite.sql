-- Contact tables shared by every domain: addresses, e-mail addresses and phone numbers.
CREATE TABLE addresses (
  id          INTEGER PRIMARY KEY,
  street      TEXT NOT NULL,
  city        TEXT NOT NULL,
  postal_code TEXT NOT NULL,
  country     TEXT NOT NULL
);

CREATE TABLE emails (
  id      INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE
);

CREATE TABLE phones (
  id     INTEGER PRIMARY KEY,
  number TEXT NOT NULL
);
