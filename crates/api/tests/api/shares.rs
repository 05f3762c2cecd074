use crate::helpers::spawn_app;
use reqwest::{redirect::Policy, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A share link plays the clip with no token through a redirect to a fresh
/// signed URL, is listed without its URL, and answers 404 once revoked and
/// 410 once expired. Only ADMIN and OPERATOR make them, of stored clips.
#[tokio::test]
async fn a_share_link_plays_then_is_revoked_or_expires() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    let shares = format!("/playbacks/{pb}/shares");
    // Still recording: nothing stored to share.
    let r = app
        .post(&t, &shares, json!({"expiresInSeconds": 3600}))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    app.post_empty(&t, &format!("/playbacks/{pb}/stop")).await;
    app.wait_playback(&t, &pb, |v| v["recordingStatus"] == "COMPLETED")
        .await;

    let (_, viewer) = app.user_with_role("VIEWER").await;
    let r = app
        .post(&viewer, &shares, json!({"expiresInSeconds": 3600}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for bad in [
        json!({"expiresInSeconds": 59}),
        json!({"expiresInSeconds": 2592001}),
        json!({}),
        json!({"expiresInSeconds": "1h"}),
    ] {
        let r = app.post(&t, &shares, bad.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app
        .post(
            &t,
            "/playbacks/00000000-0000-0000-0000-000000000000/shares",
            json!({"expiresInSeconds": 3600}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let (_, operator) = app.user_with_role("OPERATOR").await;
    let r = app
        .post(&operator, &shares, json!({"expiresInSeconds": 3600}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let share: Value = r.json().await.unwrap();
    let url = share["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/s/", app.base)), "{url}");
    let left = time::OffsetDateTime::parse(
        share["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
        - time::OffsetDateTime::now_utc();
    assert!((3590..=3600).contains(&left.whole_seconds()), "{left}");

    // No token, no cookie: a redirect to a short-lived URL of the clip.
    let anonymous = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = anonymous.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let clip = reqwest::get(&to).await.unwrap();
    assert_eq!(clip.status(), StatusCode::OK);
    assert_eq!(clip.headers()["content-type"], "video/mp4");
    assert_eq!(clip.bytes().await.unwrap().len(), app.recorder.clip.len());

    let listed: Value = app.get(&operator, &shares).await.json().await.unwrap();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["data"][0]["id"], share["id"]);
    assert_eq!(listed["data"][0]["expired"], false);
    assert!(
        listed["data"][0].get("url").is_none(),
        "the URL is shown once"
    );
    assert!(!listed.to_string().contains(url.rsplit('/').next().unwrap()));
    assert_eq!(
        app.get(&viewer, &shares).await.status(),
        StatusCode::FORBIDDEN
    );

    let r = app
        .delete(
            &operator,
            &format!("/shares/{}", share["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = anonymous.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "revoked");
    let r = app
        .delete(
            &operator,
            &format!("/shares/{}", share["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "once");
    assert_eq!(
        anonymous
            .get(format!("{}/s/nothing", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // An expired link (made directly: waiting a minute is no test) is 410.
    let token = "0123456789abcdef".repeat(4);
    app.ports
        .shares
        .create(vigil_domain::NewShare {
            playback_id: pb.parse().unwrap(),
            token_hash: hex::encode(Sha256::digest(token.as_bytes())),
            expires_at: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
        })
        .await
        .unwrap();
    let r = anonymous
        .get(format!("{}/s/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gone");
    let listed: Value = app.get(&t, &shares).await.json().await.unwrap();
    assert_eq!(listed["data"][0]["expired"], true);

    // Deleting the playback takes its links with it.
    app.delete(&t, &format!("/playbacks/{pb}")).await;
    let r = anonymous
        .get(format!("{}/s/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
