"""pandas.read_sql through sqlite3 or psycopg2: what users run today (bench/sql_run.sh).

    sql_pandas.py sqlite PATH QUERY        |  sql_pandas.py postgres DSN QUERY
Prints one JSON line: rows, seconds (median of REPS runs, 1 by default), rows_per_s.
"""
import json
import os
import sqlite3
import statistics
import sys
import time

import pandas as pd


def main():
    kind, where, query = sys.argv[1:4]
    secs, rows = [], 0
    for _ in range(int(os.environ.get("REPS", "1"))):
        if kind == "sqlite":
            conn = sqlite3.connect(where)
        else:
            import psycopg2
            conn = psycopg2.connect(where)
        t0 = time.perf_counter()
        df = pd.read_sql(query, conn)
        secs.append(time.perf_counter() - t0)
        rows = len(df)
        conn.close()
        del df
    s = statistics.median(secs)
    print(json.dumps({"rows": rows, "seconds": round(s, 4), "rows_per_s": rows / s}))


if __name__ == "__main__":
    main()
