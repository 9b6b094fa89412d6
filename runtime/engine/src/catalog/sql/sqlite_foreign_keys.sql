SELECT o.name, f.id, f."table", f."from", f."to"
FROM sqlite_schema o, pragma_foreign_key_list(o.name) f
WHERE o.type = 'table' AND o.name NOT LIKE 'sqlite_%'
ORDER BY o.name, f.id, f.seq
