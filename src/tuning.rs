//! Sizing PostgreSQL and Synapse from the memory they share (pgtune-style, leaving room for Synapse).

/// Below this much memory the low-memory profile applies (smaller pools and caches).
pub const LOW_MEMORY_MB: u64 = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub memory_mb: u64,
    pub low_memory: bool,
    /// `-c name=value` settings for the PostgreSQL server.
    pub postgres: Vec<(&'static str, String)>,
    pub postgres_shm_bytes: i64,
    pub synapse_cp_max: u32,
    pub synapse_cache_factor: f64,
}

/// Pure: the same memory always gives the same settings, so container specs stay stable.
pub fn for_memory(memory_mb: u64) -> Tuning {
    let low_memory = memory_mb < LOW_MEMORY_MB;
    // PostgreSQL gets about a quarter of the host; Synapse and the OS need the rest.
    let shared_buffers = (memory_mb / 8).clamp(32, 2048);
    let effective_cache = (memory_mb / 2).clamp(128, 16384);
    let maintenance = (memory_mb / 32).clamp(16, 512);
    let work_mem = (memory_mb / 256).clamp(2, 32);
    let max_connections: u32 = if low_memory { 30 } else { 60 };
    let mb = |n: u64| format!("{n}MB");
    let postgres = vec![
        ("shared_buffers", mb(shared_buffers)),
        ("effective_cache_size", mb(effective_cache)),
        ("maintenance_work_mem", mb(maintenance)),
        ("work_mem", mb(work_mem)),
        ("max_connections", max_connections.to_string()),
        ("wal_buffers", mb((shared_buffers / 32).clamp(1, 16))),
        ("checkpoint_completion_target", "0.9".into()),
        ("random_page_cost", "1.1".into()),
        (
            "max_wal_size",
            if low_memory {
                "512MB".into()
            } else {
                "2GB".into()
            },
        ),
        // No parallel workers on small hosts: they multiply memory per query.
        (
            "max_parallel_workers_per_gather",
            if low_memory { "0".into() } else { "2".into() },
        ),
    ];
    Tuning {
        memory_mb,
        low_memory,
        postgres,
        postgres_shm_bytes: if low_memory { 128 << 20 } else { 256 << 20 },
        synapse_cp_max: if low_memory { 5 } else { 10 },
        synapse_cache_factor: if low_memory { 0.5 } else { 1.0 },
    }
}

/// Total memory of the host in MiB, from /proc/meminfo.
pub fn host_memory_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo_total_mb(&text)
}

fn parse_meminfo_total_mb(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting<'a>(t: &'a Tuning, name: &str) -> &'a str {
        &t.postgres.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn one_gigabyte_host_fits() {
        let t = for_memory(1024);
        assert!(t.low_memory);
        assert_eq!(setting(&t, "shared_buffers"), "128MB");
        assert_eq!(setting(&t, "max_connections"), "30");
        assert_eq!(t.synapse_cp_max, 5);
        // Worst case: all connections using work_mem at once still leaves room for Synapse.
        let worst = 128 + 30 * 4 + 32;
        assert!(worst < 1024 / 2, "{worst} MB");
    }

    #[test]
    fn big_hosts_are_capped() {
        let t = for_memory(65536);
        assert!(!t.low_memory);
        assert_eq!(setting(&t, "shared_buffers"), "2048MB");
        assert_eq!(setting(&t, "work_mem"), "32MB");
    }

    #[test]
    fn meminfo_parsing() {
        assert_eq!(
            parse_meminfo_total_mb("MemTotal:        1015808 kB\nMemFree: 1 kB\n"),
            Some(992)
        );
        assert_eq!(parse_meminfo_total_mb("nothing"), None);
    }
}
