#!/bin/sh
# sqlite3 — an in-memory database: rows made by a recursive CTE, an index,
# a join and a GROUP BY with string building. Run as `sqlite3.sh SCALE`.
set -eu
n=$(awk -v s="${1:-1}" 'BEGIN { n = int(s * 200000); print (n < 1000 ? 1000 : n) }')
exec sqlite3 :memory: <<SQL
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $n)
INSERT INTO t SELECT i, 'name-' || (i * 7919 % $n), i % 97,
	substr(hex(randomblob(64)), 1, 20 + i % 100) FROM c;
CREATE INDEX t_name ON t(name);
CREATE TABLE g AS SELECT grp, count(*) AS c, group_concat(substr(name, 1, 8)) AS names
	FROM t GROUP BY grp;
SELECT count(*), sum(length(names)) FROM g JOIN t USING (grp) WHERE t.id % 50 = 0;
SELECT name FROM t ORDER BY name DESC LIMIT 3;
SQL
