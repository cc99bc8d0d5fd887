#!/usr/bin/env bash
# Entrypoint compatible with the official postgres image (the parts matrixbox
# relies on): POSTGRES_PASSWORD[_FILE], POSTGRES_USER[_FILE] (default postgres),
# POSTGRES_DB[_FILE] (default = user), POSTGRES_INITDB_ARGS,
# POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA,
# /docker-entrypoint-initdb.d/*.sh|*.sql, and `-c name=value` arguments.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR or the content of the file named by VAR_FILE.
file_env() {
    local var=$1 file_var=${1}_FILE def=${2:-} val
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo >&2 "error: both $var and $file_var are set (but are exclusive)"
        exit 1
    fi
    val=$def
    if [ -n "${!var:-}" ]; then
        val=${!var}
    elif [ -n "${!file_var:-}" ]; then
        val=$(<"${!file_var}")
    fi
    export "$var"="$val"
    unset "$file_var"
}

# `docker run image -c x=y` => `postgres -c x=y`
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
    exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# As the official image does: *_FILE are read while still root (the file may be root-only), and
# the values travel to the postgres user in the environment.
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 00700 "$PGDATA" || :
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

# From here on we are the postgres user (or whatever --user the container got).
mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" 2>/dev/null || :

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser (or POSTGRES_HOST_AUTH_METHOD=trust).
MSG
        exit 1
    fi

    echo "initializing database in $PGDATA"
    if [ -n "$POSTGRES_PASSWORD" ]; then
        # eval so that quoted words in POSTGRES_INITDB_ARGS stay whole
        eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
    else
        eval 'initdb --username="$POSTGRES_USER" '"$POSTGRES_INITDB_ARGS"
    fi
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

    # Temporary server on the unix socket only.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start

    export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    psql+=(--dbname "$POSTGRES_DB")
    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        case "$f" in
            *.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql) echo "running $f"; "${psql[@]}" -f "$f" ;;
            *) echo "ignoring $f" ;;
        esac
    done

    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo
    echo 'PostgreSQL init process complete; ready for start up.'
    echo
else
    echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
fi

exec "$@"
