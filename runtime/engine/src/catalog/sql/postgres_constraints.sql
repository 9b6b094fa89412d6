SELECT con.conname::text,
       con.contype::text,
       rel.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord),
       ref.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(coalesce(con.confkey, '{}'::int2[])) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord)
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
JOIN pg_namespace n ON n.oid = rel.relnamespace
LEFT JOIN pg_class ref ON ref.oid = con.confrelid
WHERE n.nspname = coalesce($1::text, current_schema()) AND con.contype IN ('p', 'u', 'f')
ORDER BY rel.relname, con.conname
