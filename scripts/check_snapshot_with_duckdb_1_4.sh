#!/usr/bin/env bash
# Open the published snapshot with a DuckDB 1.4 LTS client, as a BI tool's bundled
# driver would: read-only, list every table with its row count.
#
#   scripts/check_snapshot_with_duckdb_1_4.sh [path/to/margin_warehouse.duckdb]
#
# The path defaults to $MARGIN_WH_PUBLISH/margin_warehouse.duckdb, else
# data/demo/published/margin_warehouse.duckdb (MARGIN_WH_HOME moves it). Installs the latest duckdb 1.4.x from PyPI
# into a throwaway venv under /tmp (reused on later runs; DUCKDB_14_VENV moves it).
# Exits non-zero when the client cannot open or read the file.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
publish_dir="${MARGIN_WH_PUBLISH:-${MARGIN_WH_HOME:-$repo_root/data/demo}/published}"
snapshot="${1:-$publish_dir/margin_warehouse.duckdb}"
venv="${DUCKDB_14_VENV:-/tmp/margin_wh_duckdb_1_4_venv}"
python="${PYTHON:-python3}"

if [[ ! -f "$snapshot" ]]; then
    echo "error: no snapshot at $snapshot; run 'margin-wh demo' (or a refresh) first" >&2
    exit 2
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import duckdb, sys; sys.exit(0 if duckdb.__version__.startswith("1.4.") else 1)' 2>/dev/null; then
    echo "installing duckdb==1.4.* into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==1.4.*"
fi

"$venv/bin/python" - "$snapshot" <<'PY'
import sys

import duckdb

path = sys.argv[1]
print(f"duckdb {duckdb.__version__} opening {path} read-only")
con = duckdb.connect(path, read_only=True)
tables = con.execute(
    "select schema_name, table_name from duckdb_tables() "
    "where database_name = current_database() order by schema_name, table_name"
).fetchall()
if not tables:
    sys.exit(f"error: no tables in {path}")
marts = [t for t in tables if t[0] == "marts"]
if not marts:
    sys.exit(f"error: no tables in schema marts in {path}")
width = max(len(f"{s}.{t}") for s, t in tables)
for schema, table in tables:
    # hash(t) over whole rows makes the client decode every column, not just count
    rows, digest = con.execute(
        f'select count(*), bit_xor(hash(t)) from "{schema}"."{table}" as t'
    ).fetchone()
    print(f"  {schema + '.' + table:<{width}}  {rows:>10,} rows  content hash {digest}")
info = con.execute("select * from main.snapshot_info").fetchone() if ("main", "snapshot_info") in tables else None
if info:
    print(f"snapshot_info: published_at_utc={info[0]} source={info[1]} last_trade_date={info[3]} storage_version={info[4]}")
(last,) = con.execute("select max(trade_date) from marts.fct_market_short_daily").fetchone()
print(f"ok: {len(tables)} tables ({len(marts)} marts) read with duckdb {duckdb.__version__}; latest trade_date {last}")
con.close()
PY
