#!/bin/sh
# restore.sh DUMP TARGET_URL: restore a dump made by backup.sh into a FRESH, empty database
# (create it first: createdb, or the provider's console). It refuses a database that already
# holds tables, and restores in one transaction: on any error nothing is left half-restored.
# Then point ELSON_DATABASE_URL at it (docs/runbook.md, "Restore a backup").
set -eu
dump="${1:?usage: restore.sh DUMP TARGET_URL}"
target_url="${2:?usage: restore.sh DUMP TARGET_URL}"
target="$(printf '%s' "$target_url" | sed 's#^postgresql+[a-z0-9]*://#postgresql://#')"
tables="$(psql --no-psqlrc -Atq --dbname="$target" -c "select count(*) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')")"
if [ "$tables" != "0" ]; then
    echo "restore.sh: the target database holds $tables tables; restore into a fresh database" >&2
    exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$target" "$dump"
echo "restored $dump"
