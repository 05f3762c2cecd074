use crate::helpers::{error_code, spawn_app, spawn_app_with, Options, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_domain::ports::Recorder;
use vigil_persistence::testing::Backend;

/// The seed's example flow, every field it shows checked, as an OPERATOR
/// and read back by a VIEWER.
async fn seed_flow(backend: Backend) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let cam = app.create_camera("Camera 1").await;
    let cam_id = cam["id"].as_str().unwrap();
    let (_, op) = app.user_with_role("OPERATOR").await;
    let (_, viewer) = app.user_with_role("VIEWER").await;

    // 1. MOTION event starts a recording.
    let r = app.post_event(&op, cam_id, "MOTION").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ev: Value = r.json().await.unwrap();
    assert_eq!(ev["type"], "MOTION");
    assert_eq!(ev["description"], "Motion detected");
    assert_eq!(ev["camera"], json!({"id": cam_id, "name": "Camera 1"}));
    assert!(ev["createdAt"].is_string());
    assert!(ev.as_object().unwrap().contains_key("nChannelID"));
    let ev_id = ev["id"].as_str().unwrap();
    let pb_id = ev["playbackId"]
        .as_str()
        .expect("MOTION sets playbackId")
        .to_owned();

    // 2. Its playback is listed by eventId and RECORDING.
    let list: Value = app
        .get_json(&viewer, &format!("/playbacks?eventId={ev_id}"))
        .await;
    assert_eq!(list["total"], 1);
    let item = &list["data"][0];
    assert_eq!(item["id"], pb_id.as_str());
    assert_eq!(item["recordingStatus"], "RECORDING");
    assert!(item["localPath"].is_string());
    assert_eq!(item["event"]["id"], ev_id);

    // 3. Ending the event answers PROCESSING.
    let viewer_end = app
        .post_empty(&viewer, &format!("/events/{ev_id}/end"))
        .await;
    error_code(viewer_end, StatusCode::FORBIDDEN).await;
    let r = app.post_empty(&op, &format!("/events/{ev_id}/end")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let end: Value = r.json().await.unwrap();
    assert_eq!(
        end,
        json!({"ok": true, "eventId": ev_id, "playbackId": pb_id, "recordingStatus": "PROCESSING"})
    );

    // 4. Once uploaded: COMPLETED with a playable URL and the clip's facts.
    let pb = app
        .wait_playback(&viewer, &pb_id, |v| v["recordingStatus"] == "COMPLETED")
        .await;
    assert!(pb["videoUrl"]
        .as_str()
        .unwrap()
        .contains(&format!("/media/playbacks/{pb_id}/video.mp4")));
    assert_eq!(pb["fileSizeBytes"], 200_000);
    assert_eq!(pb["durationSec"], 5.0);
    assert_eq!(pb["codec"], "H.264");
    assert_eq!(pb["resolution"], "1080p");
    assert_eq!(
        (pb["width"].as_i64(), pb["height"].as_i64()),
        (Some(1920), Some(1080))
    );
    assert!(pb["localPath"].is_null());
    assert!(pb["startedAt"].is_string() && pb["endedAt"].is_string());
    assert_eq!(pb["event"]["type"], "MOTION");

    // Ending again answers with the current status.
    let again: Value = app
        .post_empty(&op, &format!("/events/{ev_id}/end"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["recordingStatus"], "COMPLETED");
    let ev: Value = app.get_json(&viewer, &format!("/events/{ev_id}")).await;
    assert!(ev["endedAt"].is_string());
}

#[tokio::test]
async fn seed_flow_on_sqlite() {
    seed_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn seed_flow_on_postgres() {
    seed_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn non_recording_types_create_no_playback() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "ALARM")
        .await
        .json()
        .await
        .unwrap();
    assert!(ev["playbackId"].is_null());
    let end: Value = app
        .post_empty(&t, &format!("/events/{}/end", ev["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(end["ok"], true);
    assert!(end["playbackId"].is_null() && end["recordingStatus"].is_null());
    let list: Value = app.get_json(&t, "/playbacks").await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn a_recording_that_cannot_start_still_creates_the_event() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    *app.recorder.refuse_with.lock().unwrap() =
        Some("camera unreachable: connection refused".into());
    let r = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ev: Value = r.json().await.unwrap();
    let pb: Value = app
        .get_json(
            &t,
            &format!("/playbacks/{}", ev["playbackId"].as_str().unwrap()),
        )
        .await;
    assert_eq!(pb["recordingStatus"], "FAILED");
    assert!(
        pb["error"].as_str().unwrap().contains("camera unreachable"),
        "{pb}"
    );
}

#[tokio::test]
async fn event_input_is_validated() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let cam_id = cam["id"].as_str().unwrap();
    let r = app
        .post_event(&t, &uuid::Uuid::new_v4().to_string(), "MOTION")
        .await;
    // An id that names nothing: 404, with the field named.
    let e = error_code(r, StatusCode::NOT_FOUND).await;
    assert_eq!(e["field"], "cameraId");
    let r = app.post_event(&t, cam_id, "EXPLOSION").await;
    let e = error_code(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(e["field"], "type");
    assert!(e["message"].as_str().unwrap().contains("MOTION"));
    let r = app.post_event(&t, "12", "MOTION").await;
    assert_eq!(
        error_code(r, StatusCode::BAD_REQUEST).await["field"],
        "cameraId"
    );
    let r = app
        .post(
            &t,
            "/events",
            json!({"cameraId": cam_id, "type": "MOTION", "nChannelID": -3}),
        )
        .await;
    assert_eq!(
        error_code(r, StatusCode::BAD_REQUEST).await["field"],
        "nChannelID"
    );
    // None of the refused events was stored.
    let list: Value = app.get_json(&t, "/events").await;
    assert_eq!(list["total"], 0);
    error_code(
        app.post_empty(&t, &format!("/events/{}/end", uuid::Uuid::new_v4()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_code(app.get(&t, "/events/nope").await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn events_list_filters_and_paginates() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let a = app.create_camera("A").await;
    let b = app.create_camera("B").await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    for (cam, kind) in [(a, "ALARM"), (a, "TAMPER"), (a, "ALARM"), (b, "ALARM")] {
        assert_eq!(
            app.post_event(&t, cam, kind).await.status(),
            StatusCode::CREATED
        );
    }
    let v: Value = app.get_json(&t, &format!("/events?cameraId={a}")).await;
    assert_eq!(v["total"], 3);
    let v: Value = app
        .get_json(&t, &format!("/events?cameraId={a}&type=ALARM"))
        .await;
    assert_eq!(v["total"], 2);
    let v: Value = app.get_json(&t, "/events?limit=3&offset=3").await;
    assert_eq!(
        (v["total"].as_u64(), v["data"].as_array().unwrap().len()),
        (Some(4), 1)
    );
}

/// A second MOTION on a camera already recording for an open event joins
/// that recording; it stops when the last of its events ends.
async fn overlapping_events_share_one_recording(backend: Backend) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let cam = app.create_camera("Gate").await;
    let other = app.create_camera("Yard").await;
    let (_, op) = app.user_with_role("OPERATOR").await;
    let cam_id = cam["id"].as_str().unwrap();

    let first: Value = app
        .post_event(&op, cam_id, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .post_event(&op, cam_id, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let elsewhere: Value = app
        .post_event(&op, other["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = first["playbackId"].as_str().unwrap();
    assert_eq!(second["playbackId"], pb, "the second event joins");
    assert_ne!(
        elsewhere["playbackId"], pb,
        "another camera records on its own"
    );
    assert_ne!(second["id"], first["id"]);

    let r: Value = app
        .post_empty(
            &op,
            &format!("/events/{}/end", first["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["recordingStatus"], "RECORDING",
        "still recording for the open second event"
    );
    let listed: Value = app.get_json(&op, &format!("/playbacks/{pb}")).await;
    assert_eq!(listed["recordingStatus"], "RECORDING");

    let r: Value = app
        .post_empty(
            &op,
            &format!("/events/{}/end", second["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["recordingStatus"], "PROCESSING");
    app.wait_playback(&op, pb, |v| v["recordingStatus"] == "COMPLETED")
        .await;

    // With both ended, a new MOTION starts a new recording.
    let third: Value = app
        .post_event(&op, cam_id, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(third["playbackId"], pb);
}

#[tokio::test]
async fn overlapping_events_share_one_recording_on_sqlite() {
    overlapping_events_share_one_recording(Backend::Sqlite).await
}

#[tokio::test]
async fn overlapping_events_share_one_recording_on_postgres() {
    overlapping_events_share_one_recording(Backend::Postgres).await
}

async fn motion(app: &TestApp, token: &str, camera: &str) -> Value {
    let r = app.post_event(token, camera, "MOTION").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn end_event(app: &TestApp, token: &str, event: &Value) -> Value {
    let id = event["id"].as_str().unwrap();
    app.post_empty(token, &format!("/events/{id}/end"))
        .await
        .json()
        .await
        .unwrap()
}

/// A camera with `mergeSeconds`: an event that ends leaves its clip
/// RECORDING for the window, a new event within it joins the clip (on a
/// pre-roll camera too, whose events otherwise get clips of their own),
/// and the clip stops once the window passes with no new event. The
/// recording is started without a post-roll: the window keeps it.
async fn a_flapping_detector_gives_one_clip(backend: Backend, pre_roll: u32) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let admin = app.admin_token().await;
    let cam: Value = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "Gate", "rtspUrl": "rtsp://cam/live", "preRollSeconds": pre_roll,
                   "postRollSeconds": 1, "mergeSeconds": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cam["mergeSeconds"], 2);
    let cam_id = cam["id"].as_str().unwrap();
    let first = motion(&app, &admin, cam_id).await;
    let pb = first["playbackId"].as_str().unwrap().to_owned();
    let r = end_event(&app, &admin, &first).await;
    assert_eq!(
        r["recordingStatus"], "RECORDING",
        "open for the window: {r}"
    );
    // On, off, on again: the second event joins, and a third while it is
    // open joins too.
    let second = motion(&app, &admin, cam_id).await;
    assert_eq!(second["playbackId"], pb.as_str(), "joins within the window");
    let third = motion(&app, &admin, cam_id).await;
    assert_eq!(third["playbackId"], pb.as_str());
    end_event(&app, &admin, &second).await;
    let r = end_event(&app, &admin, &third).await;
    assert_eq!(r["recordingStatus"], "RECORDING");
    let windows = app.recorder.windows.lock().unwrap().clone();
    assert_eq!(windows.len(), 1, "one recording started for three events");
    assert_eq!(windows[0].1.post_roll, std::time::Duration::ZERO);

    app.wait_playback(&admin, &pb, |v| v["recordingStatus"] == "COMPLETED")
        .await;
    let events: Value = app
        .get_json(&admin, &format!("/events?cameraId={cam_id}"))
        .await;
    assert_eq!(events["total"], 3);
    for e in events["data"].as_array().unwrap() {
        assert_eq!(e["playbackId"], pb.as_str(), "{e}");
        assert!(e["endedAt"].is_string());
    }
    // After the window: a new clip.
    let later = motion(&app, &admin, cam_id).await;
    assert_ne!(later["playbackId"], pb.as_str());
}

#[tokio::test]
async fn a_flapping_detector_gives_one_clip_on_sqlite() {
    a_flapping_detector_gives_one_clip(Backend::Sqlite, 0).await
}

#[tokio::test]
async fn a_flapping_detector_gives_one_clip_on_postgres() {
    a_flapping_detector_gives_one_clip(Backend::Postgres, 0).await
}

#[tokio::test]
async fn a_flapping_detector_gives_one_clip_on_a_pre_roll_camera() {
    a_flapping_detector_gives_one_clip(Backend::Sqlite, 5).await
}

/// A manual stop during a merge window stops the clip at once; and a
/// `mergeSeconds` out of bounds is a 400 naming it.
#[tokio::test]
async fn a_manual_stop_closes_a_merge_window() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let cam_id = cam["id"].as_str().unwrap();
    for bad in [json!(-1), json!(301), json!("5")] {
        let r = app
            .patch(
                &admin,
                &format!("/cameras/{cam_id}"),
                json!({"mergeSeconds": bad}),
            )
            .await;
        let e = error_code(r, StatusCode::BAD_REQUEST).await;
        assert!(e.to_string().contains("mergeSeconds"), "{e}");
    }
    let r = app
        .patch(
            &admin,
            &format!("/cameras/{cam_id}"),
            json!({"mergeSeconds": 300}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["mergeSeconds"], 300);
    let ev: Value = app
        .post_event(&admin, cam_id, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = ev["playbackId"].as_str().unwrap();
    app.post_empty(
        &admin,
        &format!("/events/{}/end", ev["id"].as_str().unwrap()),
    )
    .await;
    let r: Value = app
        .post_empty(&admin, &format!("/playbacks/{pb}/stop"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["recordingStatus"], "PROCESSING", "{r}");
    let next: Value = app
        .post_event(&admin, cam_id, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(next["playbackId"], pb, "a stopped clip is joined no more");
}

/// Two events sharing one recording, for the manual stop and delete tests.
async fn two_events_sharing_a_recording(app: &TestApp, op: &str) -> (String, [String; 2]) {
    let cam = app.create_camera("Gate").await;
    let cam_id = cam["id"].as_str().unwrap();
    let mut ids = Vec::new();
    let mut pbs = Vec::new();
    for _ in 0..2 {
        let e: Value = app
            .post_event(op, cam_id, "MOTION")
            .await
            .json()
            .await
            .unwrap();
        ids.push(e["id"].as_str().unwrap().to_owned());
        pbs.push(e["playbackId"].as_str().unwrap().to_owned());
    }
    assert_eq!(pbs[0], pbs[1], "the second event joins");
    let [a, b]: [String; 2] = ids.try_into().unwrap();
    (pbs.remove(0), [a, b])
}

async fn assert_all_ended(app: &TestApp, token: &str, events: &[String]) {
    for e in events {
        let v = app.get_json(token, &format!("/events/{e}")).await;
        assert!(v["endedAt"].is_string(), "every shared event ended: {v}");
    }
}

/// The seed's "manual stop recording" stops a recording that several
/// events share, and ends every one of them (none stays open on a clip
/// that has stopped).
async fn a_manual_stop_stops_a_shared_recording(backend: Backend) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let (_, op) = app.user_with_role("OPERATOR").await;
    let (pb, events) = two_events_sharing_a_recording(&app, &op).await;

    let r = app.post_empty(&op, &format!("/playbacks/{pb}/stop")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["recordingStatus"], "PROCESSING", "{r}");
    assert_eq!(r["eventId"], events[0].as_str());
    assert_eq!(r["playbackId"], pb.as_str());
    app.wait_playback(&op, &pb, |v| v["recordingStatus"] == "COMPLETED")
        .await;
    assert_all_ended(&app, &op, &events).await;
    // Ending either event afterwards is harmless and reports the clip.
    let r: Value = app
        .post_empty(&op, &format!("/events/{}/end", events[1]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["recordingStatus"], "COMPLETED");
}

#[tokio::test]
async fn a_manual_stop_stops_a_shared_recording_on_sqlite() {
    a_manual_stop_stops_a_shared_recording(Backend::Sqlite).await
}

#[tokio::test]
async fn a_manual_stop_stops_a_shared_recording_on_postgres() {
    a_manual_stop_stops_a_shared_recording(Backend::Postgres).await
}

/// Deleting a shared recording stops it and ends its events, so the next
/// event on the camera starts a new recording instead of joining the
/// deleted one.
async fn deleting_a_shared_recording_stops_it(backend: Backend) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let (_, op) = app.user_with_role("OPERATOR").await;
    let (pb, events) = two_events_sharing_a_recording(&app, &op).await;
    let cam = app.get_json(&op, &format!("/events/{}", events[0])).await["camera"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app.delete(&op, &format!("/playbacks/{pb}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        !app.recorder.is_active(pb.parse().unwrap()),
        "recording stopped"
    );
    assert_all_ended(&app, &op, &events).await;
    let next: Value = app
        .post_event(&op, &cam, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(next["playbackId"], pb.as_str(), "a new recording");
}

#[tokio::test]
async fn deleting_a_shared_recording_stops_it_on_sqlite() {
    deleting_a_shared_recording_stops_it(Backend::Sqlite).await
}

#[tokio::test]
async fn deleting_a_shared_recording_stops_it_on_postgres() {
    deleting_a_shared_recording_stops_it(Backend::Postgres).await
}

/// On a camera with a pre-roll, overlapping events each get their own
/// playback (cut from the camera's shared ring), ended one by one.
#[tokio::test]
async fn overlapping_events_on_a_pre_roll_camera_get_their_own_clips() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cam: Value = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "Gate", "rtspUrl": "rtsp://cam/live", "preRollSeconds": 5}),
        )
        .await
        .json()
        .await
        .unwrap();
    let cam_id = cam["id"].as_str().unwrap();
    let mut events = Vec::new();
    for _ in 0..2 {
        let e: Value = app
            .post_event(&admin, cam_id, "MOTION")
            .await
            .json()
            .await
            .unwrap();
        events.push(e);
    }
    assert_ne!(events[0]["playbackId"], events[1]["playbackId"]);
    let r: Value = app
        .post_empty(
            &admin,
            &format!("/events/{}/end", events[0]["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["recordingStatus"], "PROCESSING", "its own clip ends");
    let other: Value = app
        .get_json(
            &admin,
            &format!("/playbacks/{}", events[1]["playbackId"].as_str().unwrap()),
        )
        .await;
    assert_eq!(other["recordingStatus"], "RECORDING", "the other goes on");
}

/// `occurredAt`, `preRollSeconds` and `postRollSeconds` reach the recorder
/// as the recording's window; a trigger in the future or a day old, or
/// a window out of bounds, is a 400 naming the field.
#[tokio::test]
async fn an_events_trigger_time_and_window_reach_the_recorder() {
    use time::format_description::well_known::Rfc3339;
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let seen = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        - time::Duration::seconds(20);
    let r = app
        .post(
            &t,
            "/events",
            json!({"cameraId": cam["id"], "type": "MOTION", "occurredAt": seen.format(&Rfc3339).unwrap(),
                   "preRollSeconds": 7, "postRollSeconds": 4}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ev: Value = r.json().await.unwrap();
    assert_eq!(ev["occurredAt"], seen.format(&Rfc3339).unwrap());
    assert!(ev["groupId"].is_null());
    let pb: vigil_domain::PlaybackId = ev["playbackId"].as_str().unwrap().parse().unwrap();
    let windows = app.recorder.windows.lock().unwrap().clone();
    let (id, w) = windows.last().copied().unwrap();
    assert_eq!(id, pb);
    assert_eq!(w.pre_roll, std::time::Duration::from_secs(7));
    assert_eq!(w.post_roll, std::time::Duration::from_secs(4));
    assert_eq!(w.trigger, Some(std::time::SystemTime::from(seen)));

    // Without them: the camera's window, triggered now (another camera:
    // on this one the event would join the running recording).
    let plain = app.create_camera("Yard").await;
    app.post_event(&t, plain["id"].as_str().unwrap(), "MOTION")
        .await;
    let (_, w) = app
        .recorder
        .windows
        .lock()
        .unwrap()
        .last()
        .copied()
        .unwrap();
    assert_eq!(
        (w.pre_roll, w.post_roll, w.trigger),
        (Default::default(), Default::default(), None)
    );

    let now = time::OffsetDateTime::now_utc();
    for (body, field) in [
        (
            json!({"occurredAt": (now + time::Duration::minutes(5)).format(&Rfc3339).unwrap()}),
            "occurredAt",
        ),
        (
            json!({"occurredAt": (now - time::Duration::hours(25)).format(&Rfc3339).unwrap()}),
            "occurredAt",
        ),
        (json!({"occurredAt": "yesterday"}), "occurredAt"),
        (json!({"preRollSeconds": 301}), "preRollSeconds"),
        (json!({"postRollSeconds": -1}), "postRollSeconds"),
    ] {
        let mut b = json!({"cameraId": cam["id"], "type": "MOTION"});
        b.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let r = app.post(&t, "/events", b.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        let err: Value = r.json().await.unwrap();
        assert!(err.to_string().contains(field), "{b}: {err}");
    }
}

/// One trigger on three cameras: three events sharing a `groupId`, each
/// with its own recording; listed by group; ended one by one. A list with
/// an unknown camera creates nothing.
#[tokio::test]
async fn a_trigger_on_several_cameras_makes_one_event_each_in_a_group() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let mut ids = Vec::new();
    for name in ["North", "South", "East"] {
        ids.push(
            app.create_camera(name).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let r = app
        .post(
            &t,
            "/events",
            json!({"cameraIds": ids, "type": "MOTION", "description": "Fence"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["total"], 3);
    let events = body["data"].as_array().unwrap();
    let group = events[0]["groupId"].as_str().unwrap().to_owned();
    for (ev, cam) in events.iter().zip(&ids) {
        assert_eq!(ev["cameraId"].as_str().unwrap(), cam, "in the order given");
        assert_eq!(ev["groupId"], group.as_str());
        assert_eq!(ev["description"], "Fence");
    }
    let playbacks: std::collections::HashSet<_> = events
        .iter()
        .map(|e| e["playbackId"].as_str().unwrap())
        .collect();
    assert_eq!(playbacks.len(), 3, "a recording each");

    let listed: Value = app
        .get(&t, &format!("/events?groupId={group}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 3);
    let r = app
        .post_empty(
            &t,
            &format!("/events/{}/end", events[1]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ended: Vec<bool> = {
        let mut v = Vec::new();
        for ev in events {
            let e: Value = app
                .get(&t, &format!("/events/{}", ev["id"].as_str().unwrap()))
                .await
                .json()
                .await
                .unwrap();
            v.push(!e["endedAt"].is_null());
        }
        v
    };
    assert_eq!(ended, vec![false, true, false], "one event ends alone");

    let before: Value = app.get(&t, "/events").await.json().await.unwrap();
    let unknown = "00000000-0000-0000-0000-000000000000";
    let r = app
        .post(
            &t,
            "/events",
            json!({"cameraIds": [ids[0], unknown], "type": "MOTION"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("cameraIds"));
    let after: Value = app.get(&t, "/events").await.json().await.unwrap();
    assert_eq!(before["total"], after["total"], "nothing was created");

    for bad in [
        json!({"type": "MOTION"}),
        json!({"cameraId": ids[0], "cameraIds": [ids[1]], "type": "MOTION"}),
        json!({"cameraIds": [], "type": "MOTION"}),
        json!({"cameraIds": [ids[0], ids[0]], "type": "MOTION"}),
        json!({"cameraIds": ["not-a-uuid"], "type": "MOTION"}),
        json!({"cameraId": null, "type": "MOTION"}),
    ] {
        let r = app.post(&t, "/events", bad.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app.get(&t, "/events?groupId=nope").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// A detector that retries: the same `externalId` on the same camera is
/// answered 200 with the first event and records nothing again; on another
/// camera it is an event of its own; a malformed one is a 400 naming it.
async fn a_repeated_external_id_answers_the_first_event(backend: Backend) {
    let app = spawn_app_with(Options {
        backend,
        ..Options::default()
    })
    .await;
    let t = app.admin_token().await;
    let (cam, other) = (
        app.create_camera("Gate").await,
        app.create_camera("Yard").await,
    );
    let body = |camera: &Value| json!({"cameraId": camera["id"], "type": "MOTION", "externalId": "1607123955.475377-mxklsc"});
    let r = app.post(&t, "/events", body(&cam)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["externalId"], "1607123955.475377-mxklsc");
    let r = app.post(&t, "/events", body(&cam)).await;
    assert_eq!(r.status(), StatusCode::OK, "a retry");
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (&again["id"], &again["playbackId"]),
        (&first["id"], &first["playbackId"])
    );
    assert_eq!(
        app.recorder.windows.lock().unwrap().len(),
        1,
        "recorded once"
    );
    let r = app.post(&t, "/events", body(&other)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "another camera's own");
    let listed: Value = app.get_json(&t, "/events").await;
    assert_eq!(listed["total"], 2);

    // A group: 201 while any event is new, 200 once all were there.
    let group =
        json!({"cameraIds": [cam["id"], other["id"]], "type": "MOTION", "externalId": "grp-1"});
    let r = app.post(&t, "/events", group.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    let r = app.post(&t, "/events", group).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["data"][1]["id"], made["data"][1]["id"]);

    for bad in [
        json!(""),
        json!("has space"),
        json!("x".repeat(129)),
        json!("é"),
        json!(7),
    ] {
        let r = app
            .post(
                &t,
                "/events",
                json!({"cameraId": cam["id"], "type": "MOTION", "externalId": bad}),
            )
            .await;
        let e = error_code(r, StatusCode::BAD_REQUEST).await;
        assert!(e.to_string().contains("externalId"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn a_repeated_external_id_answers_the_first_event_on_sqlite() {
    a_repeated_external_id_answers_the_first_event(Backend::Sqlite).await
}

#[tokio::test]
async fn a_repeated_external_id_answers_the_first_event_on_postgres() {
    a_repeated_external_id_answers_the_first_event(Backend::Postgres).await
}
