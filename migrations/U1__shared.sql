-- Undoes V1__shared: the shared contact tables.
DROP TABLE phones;
DROP TABLE emails;
DROP TABLE addresses;
