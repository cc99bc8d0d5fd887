//! What runs inside PostgreSQL's container: the online dump, and the restore into a database of
//! its own that replaces Synapse's only once it is complete.

use tokio::io::{AsyncRead, AsyncWrite};

use super::BackupError;
use crate::docker::Engine;
use crate::stack::{DB_NAME, DB_SUPERUSER, DB_USER};

/// Where a restore goes first; renamed to Synapse's database only when complete.
const RESTORE_DB: &str = "synapse_restore";

/// `SHOW server_version` of the running server (`15.14 (Debian ...)`).
pub async fn postgres_version(engine: &Engine, container: &str) -> Result<String, BackupError> {
    let (code, out) = engine
        .exec(container, &psql(DB_NAME, &["SHOW server_version"]), vec![])
        .await?;
    check(code, out, "reading PostgreSQL's version", container)
}

/// Synapse's own version, asked of the running container.
pub async fn synapse_version(engine: &Engine, container: &str) -> Option<String> {
    let cmd = [
        "/usr/local/bin/python",
        "-c",
        "import synapse; print(synapse.__version__)",
    ];
    match engine.exec(container, &cmd, vec![]).await {
        Ok((0, out)) if !out.trim().is_empty() => Some(out.trim().to_string()),
        _ => None,
    }
}

/// How many times `backup create` starts the dump when an object vanishes under it.
pub const DUMP_ATTEMPTS: u32 = 3;

/// Whether a failed dump met an object dropped while it ran. pg_dump lists the tables, then locks
/// each one: a table dropped in between fails its lock with `relation ... does not exist` (Synapse's
/// background updates make and drop scratch tables such as `_temp_populate_user_directory_rooms`),
/// and other objects fail with `cache lookup failed`. A new dump does not list them.
pub fn dropped_during_dump(output: &str) -> bool {
    output.lines().any(|line| {
        line.contains("ERROR:")
            && ((line.contains("relation") && line.contains("does not exist"))
                || line.contains("cache lookup failed"))
    })
}

/// `pg_dump -Fc` of Synapse's database into `out`: one consistent snapshot taken while Synapse
/// keeps writing.
pub async fn dump(
    engine: &Engine,
    container: &str,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<(), BackupError> {
    let cmd = [
        "pg_dump",
        "-U",
        DB_SUPERUSER,
        "--no-password",
        "-d",
        DB_NAME,
        "-Fc",
    ];
    let (code, stderr) = engine.exec_to(container, &cmd, out).await?;
    if code != 0 {
        return Err(BackupError::Dump {
            container: container.into(),
            code,
            output: stderr.trim().to_string(),
        });
    }
    Ok(())
}

/// Restores the dump into a new database, in one transaction, and empties the one-time keys
/// (restored ones would be handed out a second time). Synapse's database is not touched: a failure
/// here leaves it as it was.
pub async fn restore_aside(
    engine: &Engine,
    container: &str,
    dump: &mut (impl AsyncRead + Unpin),
) -> Result<(), BackupError> {
    restore_aside_as(engine, container, dump, None).await
}

/// `restore_aside`; with `role`, every object is made by and owned by that role whatever the dump
/// names (a dump of another installation, whose roles do not exist here).
pub async fn restore_aside_as(
    engine: &Engine,
    container: &str,
    dump: &mut (impl AsyncRead + Unpin),
    role: Option<&str>,
) -> Result<(), BackupError> {
    let create = format!(
        "CREATE DATABASE {RESTORE_DB} OWNER {DB_USER} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    );
    let drop = format!("DROP DATABASE IF EXISTS {RESTORE_DB}");
    let (code, out) = engine
        .exec(container, &psql("postgres", &[&drop, &create]), vec![])
        .await?;
    check(
        code,
        out,
        "creating the database to restore into",
        container,
    )?;
    let mut cmd = [
        "pg_restore",
        "-U",
        DB_SUPERUSER,
        "--no-password",
        "-d",
        RESTORE_DB,
        "--single-transaction",
        "--exit-on-error",
    ]
    .to_vec();
    if let Some(role) = role {
        cmd.extend(["--no-owner", "--no-privileges", "--role", role]);
    }
    let (code, out) = engine.exec_from(container, &cmd, dump).await?;
    check(code, out, "pg_restore", container)?;
    // Synapse's documented rule for restored databases.
    let (code, out) = engine
        .exec(
            container,
            &psql(RESTORE_DB, &["TRUNCATE e2e_one_time_keys_json"]),
            vec![],
        )
        .await?;
    check(code, out, "emptying e2e_one_time_keys_json", container)?;
    Ok(())
}

/// Drops what `restore_aside` made (after a failure), so nothing half-restored remains.
pub async fn drop_aside(engine: &Engine, container: &str) {
    let drop = format!("DROP DATABASE IF EXISTS {RESTORE_DB}");
    let _ = engine
        .exec(container, &psql("postgres", &[&drop]), vec![])
        .await;
}

/// Puts the restored database in the place of Synapse's (whose contents go), and gives Synapse's
/// role the restored password.
pub async fn swap_in(engine: &Engine, container: &str, password: &str) -> Result<(), BackupError> {
    let drop = format!("DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)");
    let rename = format!("ALTER DATABASE {RESTORE_DB} RENAME TO {DB_NAME}");
    let (code, out) = engine
        .exec(container, &psql("postgres", &[&drop, &rename]), vec![])
        .await?;
    check(code, out, "replacing Synapse's database", container)?;
    // Through the environment and stdin: the password stays out of argv.
    let sql = format!(
        "ALTER ROLE {DB_USER} PASSWORD '{}';",
        password.replace('\'', "''")
    );
    let script = format!(
        "printf '%s\\n' \"$MATRIXBOX_SQL\" | psql -v ON_ERROR_STOP=1 -X -q -U {DB_SUPERUSER} -d postgres -f -"
    );
    let (code, out) = engine
        .exec(
            container,
            &["sh", "-c", &script],
            vec![format!("MATRIXBOX_SQL={sql}")],
        )
        .await?;
    check(
        code,
        out,
        "setting the restored password of Synapse's role",
        container,
    )?;
    Ok(())
}

/// psql as the superuser (local trust inside the container), each statement on its own (as
/// `CREATE DATABASE` must be).
pub(crate) fn psql<'a>(db: &'a str, statements: &[&'a str]) -> Vec<&'a str> {
    let mut cmd = vec![
        "psql",
        "-X",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        DB_SUPERUSER,
        "--no-password",
        "-d",
        db,
    ];
    for s in statements {
        cmd.push("-c");
        cmd.push(s);
    }
    cmd
}

fn check(
    code: i64,
    out: String,
    step: &'static str,
    container: &str,
) -> Result<String, BackupError> {
    if code == 0 {
        Ok(out.trim().to_string())
    } else {
        Err(BackupError::Database {
            step,
            container: container.into(),
            code,
            output: out.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::dropped_during_dump;

    #[test]
    fn a_dump_is_started_again_only_when_an_object_vanished_under_it() {
        // What pg_dump 15 said when Synapse dropped a scratch table during a test's backup.
        assert!(dropped_during_dump(
            "pg_dump: error: query failed: ERROR:  relation \"public._temp_populate_user_directory_rooms\" does not exist\npg_dump: detail: Query was: LOCK TABLE public._temp_populate_user_directory_rooms IN ACCESS SHARE MODE"
        ));
        assert!(dropped_during_dump(
            "pg_dump: error: query failed: ERROR:  cache lookup failed for function 16402"
        ));
        for lasting in [
            "pg_dump: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database \"synapse\" does not exist",
            "pg_dump: error: query failed: ERROR:  permission denied for table users",
            "pg_dump: error: could not write to output file: No space left on device",
            "",
        ] {
            assert!(!dropped_during_dump(lasting), "{lasting}");
        }
    }
}
