use crate::helpers::{error_code, spawn_app, spawn_app_with, Options, ADMIN, ADMIN_PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use vigil_api::auth::LoginQuota;

#[tokio::test]
async fn login_returns_a_bearer_token() {
    let app = spawn_app().await;
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tokenType"], "Bearer");
    assert!(v["expiresIn"].as_u64().unwrap() > 0);
    let token = v["accessToken"].as_str().unwrap();
    assert_eq!(app.get(token, "/cameras").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_credentials_are_401_whatever_is_wrong() {
    let app = spawn_app().await;
    for (u, p) in [
        (ADMIN, "wrong-password"),
        ("nobody", ADMIN_PASSWORD),
        ("x", "y"),
    ] {
        let e = error_code(app.login(u, p).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(e["message"], "invalid username or password");
    }
    let r = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"username": ADMIN}))
        .send()
        .await
        .unwrap();
    let e = error_code(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(e["field"], "password");
}

#[tokio::test]
async fn missing_bad_and_foreign_tokens_are_401() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/cameras")).send().await.unwrap();
    error_code(r, StatusCode::UNAUTHORIZED).await;
    error_code(
        app.get("garbage", "/cameras").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let r = app
        .client
        .get(app.url("/cameras"))
        .header("Authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    error_code(r, StatusCode::UNAUTHORIZED).await;
    // A token signed by another server (another secret) is refused.
    let other = spawn_app().await;
    let foreign = other.admin_token().await;
    error_code(
        app.get(&foreign, "/cameras").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn login_attempts_are_throttled() {
    let app = spawn_app_with(Options {
        login_quota: LoginQuota {
            burst: 3,
            per_attempt: Duration::from_secs(60),
        },
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.login(ADMIN, "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert!(r.headers().get("retry-after").is_some());
    let e = error_code(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(e["code"], "too_many_requests");
    // Another username is not locked out by the first one's failures.
    assert_eq!(
        app.login("someone-else", "whatever-pw").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn deleted_and_demoted_users_lose_access_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (op_id, op) = app.user_with_role("OPERATOR").await;
    let cam = app.create_camera("Gate").await;
    let cam_id = cam["id"].as_str().unwrap();
    assert_eq!(
        app.post_event(&op, cam_id, "ALARM").await.status(),
        StatusCode::CREATED
    );

    let r = app
        .patch(
            &admin,
            &format!("/users/{op_id}"),
            json!({"role": "VIEWER"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A token issued before the role was lowered no longer works at all.
    error_code(app.get(&op, "/events").await, StatusCode::UNAUTHORIZED).await;
    // A new login gets a VIEWER's token: reads yes, writes no.
    let name = app.get_json(&admin, &format!("/users/{op_id}")).await["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer = app.token(&name, "password-123").await;
    assert_eq!(app.get(&viewer, "/events").await.status(), StatusCode::OK);
    error_code(
        app.post_event(&viewer, cam_id, "ALARM").await,
        StatusCode::FORBIDDEN,
    )
    .await;

    assert_eq!(
        app.delete(&admin, &format!("/users/{op_id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    error_code(app.get(&viewer, "/events").await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_password_change_ends_older_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, old) = app.user_with_role("OPERATOR").await;
    let name = app.get_json(&admin, &format!("/users/{id}")).await["username"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get(&old, "/events").await.status(), StatusCode::OK);
    // Renaming is no reason to revoke.
    let renamed = format!("{name}-x");
    let r = app
        .patch(
            &admin,
            &format!("/users/{id}"),
            json!({"username": renamed}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get(&old, "/events").await.status(), StatusCode::OK);

    let r = app
        .patch(
            &admin,
            &format!("/users/{id}"),
            json!({"password": "another-password-9"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let e = error_code(app.get(&old, "/events").await, StatusCode::UNAUTHORIZED).await;
    assert!(e["message"].as_str().unwrap().contains("revoked"), "{e}");
    let fresh = app.token(&renamed, "another-password-9").await;
    assert_eq!(app.get(&fresh, "/events").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoke_tokens_ends_a_users_tokens_and_only_theirs() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, op) = app.user_with_role("OPERATOR").await;
    let (_, other) = app.user_with_role("VIEWER").await;
    let name = app.get_json(&admin, &format!("/users/{id}")).await["username"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only an ADMIN may revoke, and only a user that exists.
    error_code(
        app.post_empty(&op, &format!("/users/{id}/revoke-tokens"))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    error_code(
        app.post_empty(
            &admin,
            &format!("/users/{}/revoke-tokens", uuid::Uuid::new_v4()),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.get(&op, "/events").await.status(), StatusCode::OK);

    let r = app
        .post_empty(&admin, &format!("/users/{id}/revoke-tokens"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    error_code(app.get(&op, "/events").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.get(&other, "/events").await.status(), StatusCode::OK);
    assert_eq!(app.get(&admin, "/events").await.status(), StatusCode::OK);
    // The password still works: a new login gets a working token.
    let fresh = app.token(&name, "password-123").await;
    assert_eq!(app.get(&fresh, "/events").await.status(), StatusCode::OK);
}
