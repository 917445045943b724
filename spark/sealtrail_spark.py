"""Runs sealtrail's evidence queries on Apache Spark (docs/SCALING.md).

    spark-submit --master local[2] sealtrail_spark.py JOB.json OUT_DIR
    python3 sealtrail_spark.py JOB.json OUT_DIR        (PyPI pyspark, local mode)

JOB.json is written by `sealtrail pack --engine spark` (format
`sealtrail-spark-job/v1`, docs/SCALING.md): the exact segment files of a
verified manifest, the checkpoint's tree size, the parameters, and the SQL
texts of queries/ (DuckDB dialect). For each query this writes
OUT_DIR/<name>.parquet (the result) and OUT_DIR/<name>.spark.sql (the
Spark SQL text that produced it, which the pack ships).

One source of truth for the SQL: every text is the DuckDB one from
queries/, with its parameters bound as literals, the macros of
queries/views.sql expanded from their own definitions, and translated by
sqlglot; a query whose Spark text must differ is given in the job's
`spark_sql` (from queries/spark/<name>.sql) and is run as written.
"""

import json
import os
import re
import sys

import sqlglot
from sqlglot import exp

FORMAT = "sealtrail-spark-job/v1"


def literal(p):
    """A parameter as a DuckDB literal (what `getvariable` would return)."""
    if p["type"] == "time":
        return "TIMESTAMPTZ '%s'" % p["value"]
    if p["type"] == "int":
        return str(int(p["value"]))
    return "'%s'" % str(p["value"]).replace("'", "''")


def statements(text):
    """The SQL statements of a file: comments dropped, split on ';' at line ends."""
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*\n", body + "\n") if s.strip()]


MACRO = re.compile(r"CREATE\s+OR\s+REPLACE\s+MACRO\s+(\w+)\s*\(([^)]*)\)\s+AS\s+(.*)$", re.S | re.I)
VIEW = re.compile(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+(\w+)\s+AS\s+(.*)$", re.S | re.I)


class Translator:
    def __init__(self, views_sql, params):
        self.params = params
        self.macros = {}
        self.views = []
        for st in statements(views_sql):
            m = MACRO.match(st)
            if m:
                args = [a.strip() for a in m.group(2).split(",") if a.strip()]
                self.macros[m.group(1).lower()] = (args, sqlglot.parse_one(m.group(3), read="duckdb"))
                continue
            v = VIEW.match(st)
            if v:
                self.views.append((v.group(1), v.group(2)))
                continue
            raise SystemExit("queries/views.sql: a statement that is neither a macro nor a view")

    def bind(self, sql):
        def one(m):
            name = m.group(1)
            if name not in self.params:
                raise SystemExit("a query reads parameter %s, which the job does not give" % name)
            return "(" + literal(self.params[name]) + ")"
        return re.sub(r"getvariable\('(\w+)'\)", one, sql)

    def expand(self, tree):
        def visit(node):
            if isinstance(node, exp.Anonymous) and node.name.lower() in self.macros:
                args, body = self.macros[node.name.lower()]
                values = [visit(a) for a in node.expressions]
                mapping = dict(zip(args, values))
                out = body.copy().transform(
                    lambda n: mapping[n.name].copy() if isinstance(n, exp.Column) and n.name in mapping and not n.table else n)
                return exp.Paren(this=out)
            return node
        return tree.transform(visit)

    def spark(self, sql):
        tree = sqlglot.parse_one(self.bind(sql), read="duckdb")
        return rewrite(self.expand(tree)).sql(dialect="spark")


# DuckDB functions sqlglot leaves as they are, written with Spark's own
# (each rewrite is exact: the same value for every input)
INTERVALS = {"to_years": 0, "to_months": 1, "to_weeks": 2, "to_days": 3,
             "to_hours": 4, "to_minutes": 5, "to_seconds": 6}
RENAMED = {"epoch_us": "unix_micros"}


def rewrite(tree):
    def visit(node):
        if type(node).__name__ == "ToDays":  # parsed, but not written for Spark
            node = exp.Anonymous(this="to_days", expressions=[node.this])
        if type(node).__name__ == "DayOfWeekIso":
            # sqlglot 30 writes isodow as (dayofweek(x) % 7) + 1, which is
            # Monday = 3; Spark's own ISO day of week is Monday = 1 .. Sunday = 7
            return exp.Extract(this=exp.var("DAYOFWEEK_ISO"), expression=node.this)
        if not isinstance(node, exp.Anonymous):
            return node
        name = node.name.lower()
        if name in INTERVALS:
            args = [exp.Literal.number(0) for _ in range(7)]
            args[INTERVALS[name]] = node.expressions[0]
            return exp.Anonymous(this="make_interval", expressions=args)
        if name in RENAMED:
            return exp.Anonymous(this=RENAMED[name], expressions=node.expressions)
        return node
    return tree.transform(visit)


def main(job_path, out):
    with open(job_path) as f:
        job = json.load(f)
    if job.get("format") != FORMAT:
        raise SystemExit("%s: not a %s job" % (job_path, FORMAT))
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.appName("sealtrail-evidence")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.ansi.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t = Translator(job["views"], job["params"])
    # exactly the manifest's files, exactly the signed tree
    leaves = (spark.read.option("mergeSchema", "true").parquet(*job["files"])
              .where("idx < %d" % int(job["tree_size"])))
    leaves.createOrReplaceTempView("leaves")
    for name, body in t.views:
        if name == "leaves":
            continue
        spark.sql("CREATE OR REPLACE TEMPORARY VIEW %s AS %s" % (name, t.spark(body)))
    os.makedirs(out, exist_ok=True)
    import pyarrow.parquet as pq
    for name, text in sorted(job["queries"].items()):
        override = job.get("spark_sql", {}).get(name)
        sql = t.bind(override) if override else t.spark(statements(text)[-1])
        table = spark.sql(sql).toArrow()
        pq.write_table(table, os.path.join(out, name + ".parquet"))
        with open(os.path.join(out, name + ".spark.sql"), "w") as f:
            f.write(sql + "\n")
    spark.stop()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: sealtrail_spark.py JOB.json OUT_DIR")
    main(sys.argv[1], sys.argv[2])
