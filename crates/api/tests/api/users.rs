use crate::helpers::{error_code, spawn_app, ADMIN};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn admin_manages_users_and_no_secret_comes_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            &admin,
            "/users",
            json!({"username": "viewer1", "password": "viewer-pass-1", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("viewer-pass-1") && !text.contains("argon2"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["username"], "viewer1");
    assert_eq!(v["role"], "VIEWER");
    assert!(v["createdAt"].is_string() && v["id"].is_string());
    let id = v["id"].as_str().unwrap();

    let list: Value = app.get_json(&admin, "/users").await;
    assert_eq!(list["total"], 2);
    assert!(!list.to_string().contains("argon2"));

    let got: Value = app.get_json(&admin, &format!("/users/{id}")).await;
    assert_eq!(got["username"], "viewer1");

    let r = app
        .patch(
            &admin,
            &format!("/users/{id}"),
            json!({"password": "new-password-9"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.login("viewer1", "viewer-pass-1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("viewer1", "new-password-9").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn user_input_is_validated() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dup = app
        .post(
            &admin,
            "/users",
            json!({"username": ADMIN, "password": "password-123", "role": "ADMIN"}),
        )
        .await;
    error_code(dup, StatusCode::CONFLICT).await;
    let bad_role = app
        .post(
            &admin,
            "/users",
            json!({"username": "u123", "password": "password-123", "role": "ROOT"}),
        )
        .await;
    assert_eq!(
        error_code(bad_role, StatusCode::BAD_REQUEST).await["field"],
        "role"
    );
    let short = app
        .post(
            &admin,
            "/users",
            json!({"username": "u123", "password": "short", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(
        error_code(short, StatusCode::BAD_REQUEST).await["field"],
        "password"
    );
    let name = app
        .post(
            &admin,
            "/users",
            json!({"username": "a b", "password": "password-123", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(
        error_code(name, StatusCode::BAD_REQUEST).await["field"],
        "username"
    );
    error_code(
        app.get(&admin, &format!("/users/{}", uuid::Uuid::new_v4()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_code(
        app.get(&admin, "/users/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn only_admins_manage_users() {
    let app = spawn_app().await;
    let (_, op) = app.user_with_role("OPERATOR").await;
    let (_, viewer) = app.user_with_role("VIEWER").await;
    for token in [&op, &viewer] {
        error_code(app.get(token, "/users").await, StatusCode::FORBIDDEN).await;
        let r = app
            .post(
                token,
                "/users",
                json!({"username": "sneaky", "password": "password-123", "role": "ADMIN"}),
            )
            .await;
        error_code(r, StatusCode::FORBIDDEN).await;
    }
}

#[tokio::test]
async fn the_last_admin_stays() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let list: Value = app.get_json(&admin, "/users").await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    error_code(
        app.delete(&admin, &format!("/users/{id}")).await,
        StatusCode::CONFLICT,
    )
    .await;
    let r = app
        .patch(&admin, &format!("/users/{id}"), json!({"role": "VIEWER"}))
        .await;
    error_code(r, StatusCode::CONFLICT).await;
    // With a second admin, the first may go.
    let (_, _) = app.user_with_role("ADMIN").await;
    assert_eq!(
        app.delete(&admin, &format!("/users/{id}")).await.status(),
        StatusCode::NO_CONTENT
    );
}
