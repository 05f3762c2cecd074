//! The operators' `migration` binary on SQLite and PostgreSQL (a throwaway
//! database on the server `VIGIL_TEST_POSTGRES_URL` names; `tools/test`
//! starts one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use migration::sea_orm::ConnectionTrait;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_migration");

fn run(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", url)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn lines_with(o: &Output, word: &str) -> usize {
    stdout(o).lines().filter(|l| l.starts_with(word)).count()
}

fn exercise(url: &str) {
    let n = 20;
    let s = run(url, &["status"]);
    assert!(s.status.success(), "{s:?}");
    assert_eq!(lines_with(&s, "Pending"), n, "{}", stdout(&s));

    assert!(run(url, &["up"]).status.success());
    assert_eq!(lines_with(&run(url, &["status"]), "Applied"), n);

    assert!(run(url, &["down", "-n", "2"]).status.success());
    let s = run(url, &["status"]);
    assert_eq!(
        (lines_with(&s, "Applied"), lines_with(&s, "Pending")),
        (n - 2, 2)
    );

    assert!(run(url, &["fresh"]).status.success());
    assert_eq!(lines_with(&run(url, &["status"]), "Applied"), n);
}

#[test]
fn status_up_down_fresh_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}/v.db?mode=rwc", dir.path().display()));
}

#[test]
fn status_up_down_fresh_on_postgres() {
    let admin = std::env::var("VIGIL_TEST_POSTGRES_URL")
        .expect("VIGIL_TEST_POSTGRES_URL is not set: run the tests with tools/test");
    let name = format!("vigil_cli_{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exec = |sql: String| {
        rt.block_on(async {
            let c = migration::connect(&admin).await.unwrap();
            c.execute_unprepared(&sql).await.unwrap();
            c.close().await.unwrap();
        })
    };
    exec(format!("DROP DATABASE IF EXISTS {name}"));
    exec(format!("CREATE DATABASE {name}"));
    let (base, _) = admin.rsplit_once('/').unwrap();
    exercise(&format!("{base}/{name}"));
    exec(format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[test]
fn a_bad_url_fails_with_a_clear_line_and_no_password() {
    let o = run("postgres://vigil:hunter2@127.0.0.1:1/none", &["status"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot connect to DATABASE_URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
