//! `GET /nodes` and cameras' `ownerNode`, on both databases.

use crate::helpers::{error_code, spawn_app_with, Options, TEST_NODE};
use reqwest::StatusCode;
use serde_json::Value;
use vigil_persistence::testing::Backend;

async fn nodes_are_listed_for_admins_only(backend: Backend) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let admin = app.admin_token().await;
    let (_, op) = app.user_with_role("OPERATOR").await;
    error_code(app.get(&op, "/nodes").await, StatusCode::FORBIDDEN).await;
    let empty: Value = app.get_json(&admin, "/nodes").await;
    assert_eq!(empty["data"], serde_json::json!([]), "{empty}");

    let started = time::OffsetDateTime::now_utc();
    for (id, recordings) in [(TEST_NODE, 2), ("other-node", 0)] {
        app.db
            .db
            .nodes()
            .beat(&vigil_domain::NodeBeat {
                id: id.parse().unwrap(),
                started_at: started,
                cameras: 1,
                recordings,
            })
            .await
            .unwrap();
    }
    let v: Value = app.get_json(&admin, "/nodes").await;
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{v}");
    let me = data.iter().find(|n| n["id"] == TEST_NODE).unwrap();
    assert_eq!(me["alive"], true);
    assert_eq!(me["recordings"], 2);
    assert_eq!(me["cameras"], 1);
    for field in ["startedAt", "lastSeenAt"] {
        assert!(me[field].is_string(), "{me}");
    }

    // One node records every camera.
    let cam = app.create_camera("Gate").await;
    assert_eq!(cam["ownerNode"], TEST_NODE, "{cam}");
    let listed: Value = app.get_json(&admin, "/cameras").await;
    assert_eq!(listed["data"][0]["ownerNode"], TEST_NODE);
}

#[tokio::test]
async fn nodes_are_listed_for_admins_only_on_sqlite() {
    nodes_are_listed_for_admins_only(Backend::Sqlite).await;
}

#[tokio::test]
async fn nodes_are_listed_for_admins_only_on_postgres() {
    nodes_are_listed_for_admins_only(Backend::Postgres).await;
}
