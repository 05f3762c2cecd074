//! Bad input of every shape gets a 4xx JSON error, never a 500.

use crate::helpers::{error_code, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_are_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/cameras"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        "{bad",
        "",
        "[]",
        "null",
        "{\"name\": 5, \"rtspUrl\": \"rtsp://h/x\"}",
        "{\"name\": \"a\"}",
    ] {
        let r = send(body).await.unwrap();
        error_code(r, StatusCode::BAD_REQUEST).await;
    }
    let r = send("{\"name\": \"a\"}").await.unwrap();
    let e = error_code(r, StatusCode::BAD_REQUEST).await;
    assert!(e["message"].as_str().unwrap().contains("rtspUrl"), "{e}");

    // A struct's fields as an array is not an object (serde would take it).
    let cam = app.create_camera("Gate").await;
    let path = format!("/cameras/{}", cam["id"].as_str().unwrap());
    for body in ["[null, null]", "[\"Yard\"]", " 5"] {
        let r = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        error_code(r, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.get_json(&admin, &path).await["name"], "Gate");
}

/// JSON Schema's "integer" includes `10.0`; so does the API.
#[tokio::test]
async fn whole_numbers_written_as_floats_are_integers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "Gate", "rtspUrl": "rtsp://cam/x", "nChannelID": 3.0, "postRollSeconds": 2.0}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cam: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (cam["nChannelID"].as_i64(), cam["postRollSeconds"].as_i64()),
        (Some(3), Some(2))
    );
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "Yard", "rtspUrl": "rtsp://cam/x", "postRollSeconds": 2.5}),
        )
        .await;
    assert_eq!(
        error_code(r, StatusCode::BAD_REQUEST).await["field"],
        "postRollSeconds"
    );
}

#[tokio::test]
async fn oversize_bodies_are_413_and_wrong_types_415() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let big = json!({"name": "x".repeat(100_000), "rtspUrl": "rtsp://h/x"});
    error_code(
        app.post(&admin, "/cameras", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let r = app
        .client
        .post(app.url("/cameras"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    error_code(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(
        error_code(r, StatusCode::NOT_FOUND).await["code"],
        "not_found"
    );
    let r = app.client.put(app.url("/health")).send().await.unwrap();
    assert_eq!(
        error_code(r, StatusCode::METHOD_NOT_ALLOWED).await["code"],
        "method_not_allowed"
    );
}

#[tokio::test]
async fn bad_query_parameters_name_the_parameter() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    for (q, field) in [
        ("/playbacks?limit=abc", "limit"),
        ("/playbacks?limit=0", "limit"),
        ("/playbacks?offset=-1", "offset"),
        ("/playbacks?cameraId=nope", "cameraId"),
        ("/playbacks?eventId=nope", "eventId"),
        ("/playbacks?recordingStatus=DONE", "recordingStatus"),
        ("/events?type=EXPLOSION", "type"),
        ("/events?cameraId=1", "cameraId"),
        // The bounds the OpenAPI document states, enforced.
        ("/playbacks?offset=9223372036854775808", "offset"),
        ("/events?limit=501", "limit"),
        ("/events?offset=-1", "offset"),
        // An empty filter is not "no filter": leave it out for that.
        ("/events?cameraId=", "cameraId"),
        ("/playbacks?recordingStatus=", "recordingStatus"),
        ("/playbacks/stream?recordingStatus=DONE", "recordingStatus"),
        ("/playbacks/stream?cameraId=nope", "cameraId"),
    ] {
        let e = error_code(app.get(&t, q).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(e["field"], field, "{q}");
    }
}
