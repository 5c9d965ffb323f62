#!/bin/sh
# backup.sh OUT_DIR: dump the database named by ELSON_DATABASE_URL (the application's URL;
# the SQLAlchemy driver suffix is dropped) into OUT_DIR/elson-<UTC stamp>.dump, PostgreSQL's
# custom format (compressed, restorable table by table). The dump is written under a
# temporary name and listed back with pg_restore before it takes its final name, so a
# half-written file is never uploaded. Prints the file's path.
set -eu
out_dir="${1:?usage: backup.sh OUT_DIR}"
: "${ELSON_DATABASE_URL:?ELSON_DATABASE_URL is not set}"
url="$(printf '%s' "$ELSON_DATABASE_URL" | sed 's#^postgresql+[a-z0-9]*://#postgresql://#')"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="$out_dir/elson-$stamp.dump"
pg_dump --format=custom --no-owner --no-privileges --dbname="$url" --file="$file.partial"
pg_restore --list "$file.partial" > /dev/null
mv "$file.partial" "$file"
echo "$file"
