-- Undoes V3__products.
DROP TABLE products;
