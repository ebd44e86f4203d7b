#!/bin/sh
# The backup accessory: a pg_dump of the app's database (PGHOST, PGUSER, PGDATABASE and the
# secret PGPASSWORD from the accessory's env) every BACKUP_INTERVAL seconds into /backups (a
# volume), written under a temporary name and renamed when complete; the newest BACKUP_KEEP
# are kept and latest.dump points at the newest.
set -u
interval=${BACKUP_INTERVAL:-86400}
keep=${BACKUP_KEEP:-7}
mkdir -p /backups
while :; do
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  if pg_dump --format=custom --file="/backups/.$ts.partial" 2>/tmp/pg_dump.err; then
    mv "/backups/.$ts.partial" "/backups/$ts.dump"
    ln -sfn "$ts.dump" /backups/latest.dump
    echo "backup: /backups/$ts.dump ($(wc -c <"/backups/$ts.dump") bytes)"
    ls -1 /backups/*Z.dump | sort -r | tail -n +"$((keep + 1))" | xargs -r rm -f
  else
    rm -f "/backups/.$ts.partial"
    echo "backup: pg_dump failed: $(cat /tmp/pg_dump.err)" >&2
  fi
  sleep "$interval"
done
