# matrixbox: run once by the postgres image's entrypoint when it creates the data directory.
# Synapse logs in as `synapse`, which owns its database and is not a superuser. The superuser
# (POSTGRES_USER) loses its password, so it logs in only from inside the container (local trust),
# never over the network Synapse shares.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname postgres \
    --set db="$POSTGRES_DB" --set password="$POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE synapse LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'password';
ALTER DATABASE :"db" OWNER TO synapse;
ALTER ROLE CURRENT_USER PASSWORD NULL;
SQL
