//! The quick server-fidelity check against real redis-server and memcached processes (skips
//! with a printed reason where a binary is absent).

use examples::fidelity::{self, Plan};

#[test]
fn quick_fidelity_measures_and_predicts_every_point() {
    let dir = std::env::temp_dir().join(format!("server-fidelity-{}", std::process::id()));
    let summary = match fidelity::run_all(&Plan::quick(), &dir, &mut |m| eprintln!("  {m}")) {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    println!("{summary}");
    let csv = std::fs::read_to_string(dir.join("fidelity.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // 4 Redis points and 3 memcached points at 1 KiB.
    assert_eq!(rows.len(), 7, "{csv}");
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let measured: f64 = f[2].parse().unwrap();
        let predicted: f64 = f[4].parse().unwrap();
        // Server CPU per request is microseconds, not nothing and not seconds.
        assert!((300.0..5e6).contains(&measured), "{r}");
        assert!((300.0..5e6).contains(&predicted), "{r}");
    }
    // Pipelining 16 deep must cut the server's CPU per GET, measured and predicted alike.
    let get = |name: &str, col: usize| -> f64 {
        rows.iter()
            .find(|r| r.starts_with(name))
            .unwrap()
            .split(',')
            .nth(col)
            .unwrap()
            .parse()
            .unwrap()
    };
    for col in [2, 4] {
        assert!(get("redis,get c=1 d=16", col) < get("redis,get c=1 d=1", col));
    }
    assert!(summary.contains("redis fidelity: median_abs_error_pct="));
    assert!(summary.contains("memcached fidelity: median_abs_error_pct="));
    let _ = std::fs::remove_dir_all(&dir);
}
