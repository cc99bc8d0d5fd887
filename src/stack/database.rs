//! PostgreSQL as Synapse needs it: Synapse's role without superuser rights (migrated once for
//! older databases) and the C-collated UTF8 database.

use super::*;

impl Stack {
    /// Databases made before Synapse had its own role have Synapse log in as the bootstrap
    /// superuser, named `synapse`. Once, with Synapse stopped, that superuser becomes `postgres`
    /// (without a password, so it logs in only inside the container) and a new `synapse` role,
    /// not a superuser, gets the database and everything Synapse made in it, in one transaction.
    pub(super) async fn ensure_synapse_not_superuser(
        &self,
        engine: &Engine,
    ) -> Result<(), StackError> {
        let postgres = &self.names.postgres;
        let query = format!("SELECT rolsuper FROM pg_roles WHERE rolname = '{DB_USER}'");
        // Synapse's role logs in with its password, even inside the container (pg_hba.conf).
        let login = &format!("PGPASSWORD={}", self.secrets.postgres_password);
        let (code, out) = engine
            .exec(
                postgres,
                &["psql", "-U", DB_USER, "-d", DB_NAME, "-tA", "-c", &query],
                vec![login.clone()],
            )
            .await?;
        // `f` for a database matrixbox made with its own role: nothing to move.
        if code != 0 || out.trim() != "t" {
            return Ok(());
        }
        tracing::info!(
            container = %postgres,
            "Synapse's database role `{DB_USER}` is a superuser (made by an older matrixbox): stopping Synapse to give it a role without superuser rights"
        );
        if engine
            .inspect(&self.names.synapse)
            .await?
            .is_some_and(|o| o.running)
        {
            engine.stop(&self.names.synapse, 30).await?;
        }
        let run = |user: &'static str, db: &'static str, sql: String| async move {
            // SQL through the environment and stdin: the password stays out of argv.
            let script = format!(
                "printf '%s\n' \"$MATRIXBOX_SQL\" | psql -v ON_ERROR_STOP=1 -X -q -1 -U {user} -d {db} -f -"
            );
            engine
                .exec(
                    postgres,
                    &["sh", "-c", &script],
                    vec![format!("MATRIXBOX_SQL={sql}"), login.clone()],
                )
                .await
        };
        let password = self.secrets.postgres_password.replace('\'', "''");
        let outcome = async {
            let (code, out) = run(
                DB_USER,
                "postgres",
                format!("CREATE ROLE {MIGRATION_ROLE} SUPERUSER LOGIN;"),
            )
            .await?;
            if code != 0 {
                return Ok::<_, DockerError>(Err(out));
            }
            let (code, out) = run(MIGRATION_ROLE, DB_NAME, migrate_role_sql(&password)).await?;
            Ok(if code == 0 { Ok(()) } else { Err(out) })
        }
        .await?;
        // The helper role goes whatever happened; after a failure, from the old superuser.
        let dropper = if outcome.is_ok() {
            DB_SUPERUSER
        } else {
            DB_USER
        };
        let _ = run(
            dropper,
            "postgres",
            format!("DROP ROLE IF EXISTS {MIGRATION_ROLE};"),
        )
        .await;
        match outcome {
            Ok(()) => {
                tracing::info!(container = %postgres, "Synapse's database role `{DB_USER}` is no longer a superuser; the superuser is `{DB_SUPERUSER}`");
                Ok(())
            }
            Err(out) => Err(StackError::RoleMigration {
                container: postgres.clone(),
                output: out.trim().to_string(),
            }),
        }
    }

    pub async fn verify_database_locale(&self, engine: &Engine) -> Result<(), StackError> {
        let query = "SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype FROM pg_database WHERE datname = current_database()";
        let postgres = &self.names.postgres;
        let (code, output) = engine
            .exec(
                postgres,
                &[
                    "psql",
                    "-h",
                    PG_SOCKET_MOUNT,
                    "-U",
                    DB_USER,
                    "-d",
                    DB_NAME,
                    "-tA",
                    "-c",
                    query,
                ],
                vec![format!("PGPASSWORD={}", self.secrets.postgres_password)],
            )
            .await?;
        if code != 0 {
            return Err(StackError::WrongLocale {
                container: postgres.clone(),
                found: format!("an unreadable locale (psql: {})", output.trim()),
            });
        }
        check_database_locale(output.trim()).map_err(|found| StackError::WrongLocale {
            container: postgres.clone(),
            found,
        })
    }
}

/// Pure: the transaction, run as the helper superuser in Synapse's database, that renames the old
/// superuser `synapse` to `postgres` and gives a new `synapse` role the database and every object
/// in its `public` schema. Sequences that belong to a table move with their table.
pub(super) fn migrate_role_sql(password: &str) -> String {
    format!(
        r#"ALTER ROLE {DB_USER} RENAME TO {DB_SUPERUSER};
ALTER ROLE {DB_SUPERUSER} PASSWORD NULL;
CREATE ROLE {DB_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '{password}';
ALTER DATABASE {DB_NAME} OWNER TO {DB_USER};
DO $$
DECLARE r record;
BEGIN
  IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'public') = '{DB_SUPERUSER}'::regrole THEN
    ALTER SCHEMA public OWNER TO {DB_USER};
  END IF;
  FOR r IN
    SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = '{DB_SUPERUSER}'::regrole
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
        AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {DB_USER}',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
        WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = '{DB_SUPERUSER}'::regrole
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {DB_USER}',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.name);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS name, t.typtype FROM pg_type t
    WHERE t.typnamespace = 'public'::regnamespace AND t.typowner = '{DB_SUPERUSER}'::regrole
      AND t.typtype IN ('e', 'd', 'r', 'c') AND t.typrelid = 0 AND t.typelem = 0
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {DB_USER}',
      CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = 'public'::regnamespace
      AND relowner = '{DB_SUPERUSER}'::regrole) THEN
    RAISE EXCEPTION 'objects in schema public are still owned by {DB_SUPERUSER}';
  END IF;
END
$$;"#
    )
}

/// Pure: accepts only `UTF8|C|C` (what psql printed for encoding, collation and ctype).
pub(super) fn check_database_locale(found: &str) -> Result<(), String> {
    match found.split('|').collect::<Vec<_>>().as_slice() {
        ["UTF8", "C", "C"] => Ok(()),
        [enc, collate, ctype] => Err(format!(
            "encoding {enc}, collation {collate}, ctype {ctype}"
        )),
        _ => Err(format!("an unexpected answer `{found}`")),
    }
}
