-- Contact tables shared by every domain: addresses, e-mail addresses and phone numbers.
CREATE TABLE addresses (
  id          SERIAL PRIMARY KEY,
  street      TEXT NOT NULL,
  city        TEXT NOT NULL,
  postal_code TEXT NOT NULL,
  country     TEXT NOT NULL
);

CREATE TABLE emails (
  id      SERIAL PRIMARY KEY,
  address TEXT NOT NULL UNIQUE
);

CREATE TABLE phones (
  id     SERIAL PRIMARY KEY,
  number TEXT NOT NULL
);
