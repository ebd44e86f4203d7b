#!/bin/sh
# Restore a dump made by backup.sh: `dhow accessory exec backup restore.sh [FILE]` (default
# latest.dump, names as `dhow accessory exec backup ls /backups` lists them). Objects in the
# dump are dropped and recreated; the rest of the database is left alone.
set -eu
file=/backups/${1:-latest.dump}
[ -e "$file" ] || { echo "restore: no $file (ls /backups lists the dumps)" >&2; exit 1; }
pg_restore --clean --if-exists --no-owner --dbname="$PGDATABASE" "$file"
echo "restore: $file restored into $PGDATABASE on $PGHOST"
