#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every repository against a real database: each test runs on SQLite and on
//! PostgreSQL (the `both!` macro makes one `#[tokio::test]` per backend).

use migration::{Migrator, MigratorTrait};
use std::time::Duration;
use vigil_domain::{
    camera::RollSeconds, ErrorKind, EventFilter, EventType, MediaInfo, NewCamera, NewEvent,
    NewUser, Page, PasswordHash, PlaybackFilter, PlaybackId, PlaybackUpdate, RecordingStatus, Role,
    RtspUrl, StreamFacts, StreamState, Transcode, UserPatch, Username,
};
use vigil_persistence::{
    both,
    testing::{Backend, TestDatabase},
};

fn new_user(name: &str, role: Role) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        role,
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into()),
    }
}

fn new_camera(name: &str) -> NewCamera {
    NewCamera {
        name: vigil_domain::CameraName::parse(name).unwrap(),
        rtsp_url: RtspUrl::parse("rtsp://admin:secret@127.0.0.1:8554/test").unwrap(),
        n_channel_id: Some(2),
        pre_roll: RollSeconds::parse("preRollSeconds", 5).unwrap(),
        post_roll: RollSeconds::default(),
        retention: None,
        retention_max_bytes: None,
        merge: Default::default(),
        transcode: Transcode::Off,
    }
}

fn motion(camera: vigil_domain::CameraId) -> NewEvent {
    NewEvent {
        camera_id: camera,
        event_type: EventType::Motion,
        description: Some("Motion detected".into()),
        n_channel_id: None,
        occurred_at: None,
        group_id: None,
        external_id: None,
        pre_roll: None,
        post_roll: None,
    }
}

both!(
    migrations_go_up_down_and_up_again,
    |t: TestDatabase| async move {
        let (url, _guard) = TestDatabase::empty(if t.url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        })
        .await;
        let conn = migration::connect(&url).await.unwrap();
        Migrator::up(&conn, None).await.unwrap();
        let applied = Migrator::get_applied_migrations(&conn).await.unwrap();
        assert_eq!(applied.len(), Migrator::migrations().len());
        Migrator::down(&conn, None).await.unwrap();
        assert!(Migrator::get_applied_migrations(&conn)
            .await
            .unwrap()
            .is_empty());
        Migrator::up(&conn, None).await.unwrap();
        assert_eq!(
            Migrator::get_pending_migrations(&conn).await.unwrap().len(),
            0
        );
        // The schema really works after the round trip.
        let db = vigil_persistence::Database::connect(&url).await.unwrap();
        db.users()
            .create(new_user("roundtrip", Role::Admin))
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
);

both!(users_crud_and_uniqueness, |t: TestDatabase| async move {
    let users = t.db.users();
    let admin = users.create(new_user("admin", Role::Admin)).await.unwrap();
    let dup = users
        .create(new_user("admin", Role::Viewer))
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Conflict);

    let found = users
        .find_by_username(&Username::parse("admin").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, admin);
    assert_eq!(users.count().await.unwrap(), 1);
    assert_eq!(users.count_admins().await.unwrap(), 1);

    let op = users
        .create(new_user("operator", Role::Operator))
        .await
        .unwrap();
    let promoted = users
        .update(
            op.id,
            UserPatch {
                role: Some(Role::Admin),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert!(promoted.updated_at >= op.updated_at);
    assert_eq!(users.count_admins().await.unwrap(), 2);

    let rename = users
        .update(
            op.id,
            UserPatch {
                username: Some(Username::parse("admin").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(rename.kind(), ErrorKind::Conflict);

    let page = users
        .list(Page::parse(Some(1), Some(1)).unwrap())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.rows.len(), 1);

    assert!(users.delete(op.id).await.unwrap());
    assert!(!users.delete(op.id).await.unwrap());
    assert!(users.get(op.id).await.unwrap().is_none());
    let missing = users.update(op.id, UserPatch::default()).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
});

both!(
    a_cameras_stream_is_stored_apart_from_its_settings,
    |t: TestDatabase| async move {
        let cams = t.db.cameras();
        let cam = cams.create(new_camera("Yard")).await.unwrap();
        assert_eq!(cam.stream.state, StreamState::Unknown, "not probed yet");
        assert_eq!(cam.transcode, Transcode::Off);
        let stream = vigil_domain::CameraStream {
            state: StreamState::Connected,
            facts: StreamFacts {
                video_codec: Some("H.265".into()),
                audio_codec: Some("pcm_alaw".into()),
                width: Some(1920),
                height: Some(1080),
                fps: Some(25.0),
                keyframe_interval_sec: Some(4.0),
            },
            last_error: None,
            checked_at: Some(
                time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap(),
            ),
        };
        cams.set_stream(cam.id, &stream).await.unwrap();
        let back = cams.get(cam.id).await.unwrap().unwrap();
        assert_eq!(back.stream, stream);
        assert_eq!(back.updated_at, cam.updated_at, "not a user's change");
        // A settings change keeps the stream, and transcode is a setting.
        let changed = cams
            .update(
                cam.id,
                vigil_domain::CameraPatch {
                    transcode: Some(Transcode::H264),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(changed.transcode, Transcode::H264);
        assert_eq!(changed.stream, stream);
        // A camera deleted meanwhile is no error.
        assert!(cams.delete(cam.id).await.unwrap());
        cams.set_stream(cam.id, &stream).await.unwrap();
        assert!(cams.get(cam.id).await.unwrap().is_none());
    }
);

both!(
    cameras_keep_credentials_and_refuse_delete_with_events,
    |t: TestDatabase| async move {
        let cams = t.db.cameras();
        let cam = cams.create(new_camera("Gate")).await.unwrap();
        let back = cams.get(cam.id).await.unwrap().unwrap();
        assert_eq!(back, cam);
        assert_eq!(back.rtsp_url.password(), Some("secret"));
        assert_eq!(back.pre_roll.get(), 5);

        let renamed = cams
            .update(
                cam.id,
                vigil_domain::CameraPatch {
                    name: Some(vigil_domain::CameraName::parse("Front gate").unwrap()),
                    n_channel_id: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(renamed.name.as_str(), "Front gate");
        assert_eq!(renamed.n_channel_id, None);
        assert_eq!(renamed.rtsp_url, cam.rtsp_url);

        t.db.events().create(motion(cam.id), None).await.unwrap();
        let err = cams.delete(cam.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(cams.get(cam.id).await.unwrap().is_some());

        let lone = cams.create(new_camera("Lone")).await.unwrap();
        assert!(cams.delete(lone.id).await.unwrap());
        assert_eq!(cams.list(Page::default()).await.unwrap().total, 1);
    }
);

both!(
    events_create_playbacks_atomically_and_filter,
    |t: TestDatabase| async move {
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let other = t.db.cameras().create(new_camera("Yard")).await.unwrap();
        let events = t.db.events();
        let pid = PlaybackId::new();
        let ev = events.create(motion(cam.id), Some(pid)).await.unwrap();
        assert_eq!(ev.playback_id, Some(pid));
        assert_eq!(ev.camera_name, "Gate");
        // The camera's channel is the event's default.
        assert_eq!(ev.n_channel_id, Some(2));
        let pb = t.db.playbacks().get(pid).await.unwrap().unwrap();
        assert_eq!(pb.status, RecordingStatus::Pending);
        assert_eq!(pb.event_id, ev.id);
        assert_eq!(pb.event.as_ref().unwrap().event_type, EventType::Motion);

        let mut alarm = motion(other.id);
        alarm.event_type = EventType::Alarm;
        events.create(alarm, None).await.unwrap();

        let unknown = events
            .create(
                motion(vigil_domain::CameraId::new()),
                Some(PlaybackId::new()),
            )
            .await
            .unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::NotFound);
        assert_eq!(unknown.field(), Some("cameraId"));
        // Nothing half-written by the refused event.
        assert_eq!(
            t.db.playbacks()
                .list(PlaybackFilter::default(), Page::default())
                .await
                .unwrap()
                .total,
            1
        );

        let by_cam = events
            .list(
                EventFilter {
                    camera_id: Some(cam.id),
                    event_type: None,
                    group_id: None,
                },
                Page::default(),
            )
            .await
            .unwrap();
        assert_eq!((by_cam.total, by_cam.rows[0].id), (1, ev.id));
        let by_type = events
            .list(
                EventFilter {
                    camera_id: None,
                    event_type: Some(EventType::Alarm),
                    group_id: None,
                },
                Page::default(),
            )
            .await
            .unwrap();
        assert_eq!(by_type.total, 1);
        assert_eq!(by_type.rows[0].camera_id, other.id);

        let first = events
            .mark_ended(ev.id, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let again = events
            .mark_ended(ev.id, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(first.ended_at.is_some());
        assert_eq!(first.ended_at, again.ended_at, "first end time is kept");
    }
);

both!(
    an_external_id_names_one_event_per_camera,
    |t: TestDatabase| async move {
        let cams = t.db.cameras();
        let (a, b) = (
            cams.create(new_camera("A")).await.unwrap(),
            cams.create(new_camera("B")).await.unwrap(),
        );
        let with_id = |cam| NewEvent {
            external_id: Some("1607123955.475377-mxklsc".into()),
            ..motion(cam)
        };
        let first = t.db.events().create(with_id(a.id), None).await.unwrap();
        assert_eq!(
            first.external_id.as_deref(),
            Some("1607123955.475377-mxklsc")
        );
        let again = t.db.events().create(with_id(a.id), None).await.unwrap_err();
        assert_eq!(
            again.kind(),
            vigil_domain::ErrorKind::Conflict,
            "one per camera"
        );
        let other = t.db.events().create(with_id(b.id), None).await.unwrap();
        assert_ne!(
            other.id, first.id,
            "the same id on another camera is its own"
        );
        // Events without one never collide.
        t.db.events().create(motion(a.id), None).await.unwrap();
        t.db.events().create(motion(a.id), None).await.unwrap();
        let found =
            t.db.events()
                .find_external(a.id, "1607123955.475377-mxklsc")
                .await
                .unwrap();
        assert_eq!(found.map(|e| e.id), Some(first.id));
        assert!(t
            .db
            .events()
            .find_external(a.id, "other")
            .await
            .unwrap()
            .is_none());
    }
);

both!(
    events_keep_their_trigger_time_and_group,
    |t: TestDatabase| async move {
        let cams = t.db.cameras();
        let (a, b) = (
            cams.create(new_camera("A")).await.unwrap(),
            cams.create(new_camera("B")).await.unwrap(),
        );
        let group = uuid::Uuid::new_v4();
        let seen = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap()
            - time::Duration::seconds(30);
        let mut made = Vec::new();
        for cam in [a.id, b.id] {
            let pid = PlaybackId::new();
            let ev =
                t.db.events()
                    .create(
                        NewEvent {
                            occurred_at: Some(seen),
                            group_id: Some(group),
                            ..motion(cam)
                        },
                        Some(pid),
                    )
                    .await
                    .unwrap();
            assert_eq!((ev.occurred_at, ev.group_id), (Some(seen), Some(group)));
            made.push((ev.id, pid));
        }
        t.db.events().create(motion(a.id), None).await.unwrap();
        let grouped =
            t.db.events()
                .list(
                    EventFilter {
                        group_id: Some(group),
                        ..Default::default()
                    },
                    Page::default(),
                )
                .await
                .unwrap();
        assert_eq!(grouped.total, 2);
        assert!(grouped.rows.iter().all(|e| e.group_id == Some(group)));
        // The playback's event summary carries the trigger time.
        let p = t.db.playbacks().get(made[0].1).await.unwrap().unwrap();
        assert_eq!(p.event.unwrap().occurred_at, Some(seen));
    }
);

both!(
    shares_are_found_by_token_hash_listed_revoked_and_go_with_their_playback,
    |t: TestDatabase| async move {
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let pid = PlaybackId::new();
        t.db.events()
            .create(motion(cam.id), Some(pid))
            .await
            .unwrap();
        let shares = t.db.shares();
        let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let mut made = Vec::new();
        for hash in ["a".repeat(64), "b".repeat(64)] {
            made.push(
                shares
                    .create(vigil_domain::NewShare {
                        playback_id: pid,
                        token_hash: hash,
                        expires_at: until,
                    })
                    .await
                    .unwrap(),
            );
        }
        let found = shares.find(&"b".repeat(64)).await.unwrap().unwrap();
        assert_eq!(found, made[1]);
        assert_eq!(found.playback_id, pid);
        assert!(shares.find(&"c".repeat(64)).await.unwrap().is_none());
        let listed = shares.list_of(pid).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(shares.delete(made[0].id).await.unwrap());
        assert!(!shares.delete(made[0].id).await.unwrap(), "once");
        assert!(shares.find(&"a".repeat(64)).await.unwrap().is_none());
        // A token hash is unique.
        let dup = shares
            .create(vigil_domain::NewShare {
                playback_id: pid,
                token_hash: "b".repeat(64),
                expires_at: until,
            })
            .await;
        assert!(dup.is_err());
        assert!(t.db.playbacks().delete(pid).await.unwrap());
        assert!(
            shares.list_of(pid).await.unwrap().is_empty(),
            "gone with it"
        );
    }
);

both!(
    stored_bytes_and_the_oldest_finished_serve_the_quotas,
    |t: TestDatabase| async move {
        let cams = t.db.cameras();
        let (a, b) = (
            cams.create(new_camera("A")).await.unwrap(),
            cams.create(new_camera("B")).await.unwrap(),
        );
        let pbs = t.db.playbacks();
        assert_eq!(pbs.stored_bytes(None).await.unwrap(), 0, "nothing yet");
        let mut made = Vec::new();
        for (cam, size) in [(a.id, 3_000_000_000i64), (a.id, 5), (b.id, 7)] {
            let pid = PlaybackId::new();
            t.db.events().create(motion(cam), Some(pid)).await.unwrap();
            pbs.transition(pid, RecordingStatus::Recording, PlaybackUpdate::default())
                .await
                .unwrap();
            pbs.transition(pid, RecordingStatus::Processing, PlaybackUpdate::default())
                .await
                .unwrap();
            pbs.transition(
                pid,
                RecordingStatus::Completed,
                PlaybackUpdate {
                    media: Some(MediaInfo {
                        file_size_bytes: Some(size),
                        ..MediaInfo::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            made.push(pid);
        }
        // Beyond 32 bits: the sum is a 64-bit integer on both databases.
        assert_eq!(pbs.stored_bytes(None).await.unwrap(), 3_000_000_012);
        assert_eq!(pbs.stored_bytes(Some(a.id)).await.unwrap(), 3_000_000_005);
        pbs.set_retain(made[0], true).await.unwrap();
        let oldest = pbs.oldest_finished(None, 10).await.unwrap();
        assert_eq!(
            oldest.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![made[1], made[2]]
        );
        let of_b = pbs.oldest_finished(Some(b.id), 10).await.unwrap();
        assert_eq!(of_b.len(), 1);
    }
);

both!(
    retained_playbacks_are_not_listed_for_retention,
    |t: TestDatabase| async move {
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let pbs = t.db.playbacks();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let pid = PlaybackId::new();
            t.db.events()
                .create(motion(cam.id), Some(pid))
                .await
                .unwrap();
            pbs.transition(pid, RecordingStatus::Failed, PlaybackUpdate::default())
                .await
                .unwrap();
            ids.push(pid);
        }
        let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        assert_eq!(
            pbs.finished_before(cam.id, later, 10).await.unwrap().len(),
            2
        );
        let kept = pbs.set_retain(ids[0], true).await.unwrap().unwrap();
        assert!(kept.retain);
        assert_eq!(kept.status, RecordingStatus::Failed);
        let listed = pbs.finished_before(cam.id, later, 10).await.unwrap();
        assert_eq!(
            listed.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![ids[1]]
        );
        assert!(pbs.get(ids[0]).await.unwrap().unwrap().retain);
        assert!(!pbs.set_retain(ids[0], false).await.unwrap().unwrap().retain);
        assert!(pbs
            .set_retain(PlaybackId::new(), true)
            .await
            .unwrap()
            .is_none());
    }
);

both!(
    playback_transitions_follow_the_status_machine,
    |t: TestDatabase| async move {
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let pid = PlaybackId::new();
        t.db.events()
            .create(motion(cam.id), Some(pid))
            .await
            .unwrap();
        let pbs = t.db.playbacks();

        let bad = pbs
            .transition(pid, RecordingStatus::Completed, PlaybackUpdate::default())
            .await
            .unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::Conflict);

        let started = time::OffsetDateTime::now_utc();
        let rec = pbs
            .transition(
                pid,
                RecordingStatus::Recording,
                PlaybackUpdate {
                    started_at: Some(started),
                    local_path: Some(Some("/tmp/x.mp4".into())),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(rec.status, RecordingStatus::Recording);
        assert_eq!(rec.local_path.as_deref(), Some("/tmp/x.mp4"));
        pbs.transition(pid, RecordingStatus::Processing, PlaybackUpdate::default())
            .await
            .unwrap();
        let media = MediaInfo {
            file_size_bytes: Some(15_728_640),
            duration_sec: Some(30.04),
            codec: Some("H.264".into()),
            resolution: Some("1080p".into()),
            width: Some(1920),
            height: Some(1080),
            browser_playable: Some(false),
        };
        let at = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        let gaps = vec![vigil_domain::Gap { at, seconds: 4.25 }];
        let done = pbs
            .transition(
                pid,
                RecordingStatus::Completed,
                PlaybackUpdate {
                    media: Some(media.clone()),
                    video_key: Some(vigil_domain::Playback::video_key_for(pid)),
                    local_path: Some(None),
                    gaps: Some(gaps.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(done.media, media);
        assert_eq!(done.local_path, None);
        assert_eq!(done.gaps, gaps, "gaps are stored and read back");
        assert_eq!(pbs.get(pid).await.unwrap().unwrap().gaps, gaps);
        let fail = pbs
            .transition(pid, RecordingStatus::Failed, PlaybackUpdate::default())
            .await
            .unwrap_err();
        assert_eq!(
            fail.kind(),
            ErrorKind::Conflict,
            "final states are never left"
        );
        assert_eq!(
            pbs.get(pid).await.unwrap().unwrap().status,
            RecordingStatus::Completed
        );
    }
);

both!(
    playback_list_filters_paginates_and_deletes,
    |t: TestDatabase| async move {
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let cam2 = t.db.cameras().create(new_camera("Yard")).await.unwrap();
        let mut ids = Vec::new();
        for c in [cam.id, cam.id, cam.id, cam2.id] {
            let pid = PlaybackId::new();
            t.db.events().create(motion(c), Some(pid)).await.unwrap();
            ids.push(pid);
        }
        let pbs = t.db.playbacks();
        pbs.transition(
            ids[0],
            RecordingStatus::Failed,
            PlaybackUpdate {
                error: Some("camera unreachable".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

        let all = pbs
            .list(PlaybackFilter::default(), Page::default())
            .await
            .unwrap();
        assert_eq!(all.total, 4);
        let page = pbs
            .list(
                PlaybackFilter {
                    camera_id: Some(cam.id),
                    ..Default::default()
                },
                Page::parse(Some(2), Some(2)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!((page.total, page.rows.len()), (3, 1));
        let failed = pbs
            .list(
                PlaybackFilter {
                    status: Some(RecordingStatus::Failed),
                    ..Default::default()
                },
                Page::default(),
            )
            .await
            .unwrap();
        assert_eq!(failed.rows.len(), 1);
        assert_eq!(failed.rows[0].error.as_deref(), Some("camera unreachable"));
        assert_eq!(
            pbs.in_status(RecordingStatus::Pending).await.unwrap().len(),
            3
        );

        let ev = pbs.get(ids[1]).await.unwrap().unwrap().event_id;
        assert!(pbs.delete(ids[1]).await.unwrap());
        assert!(pbs.get(ids[1]).await.unwrap().is_none());
        assert_eq!(
            t.db.events().get(ev).await.unwrap().unwrap().playback_id,
            None
        );
        assert!(!pbs.delete(ids[1]).await.unwrap());
    }
);

both!(ping_answers, |t: TestDatabase| async move {
    t.db.ping().await.unwrap();
});

both!(
    events_join_only_a_running_recording_of_their_camera,
    |t: TestDatabase| async move {
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let other = t.db.cameras().create(new_camera("Yard")).await.unwrap();
        let pid = PlaybackId::new();
        let first =
            t.db.events()
                .create(motion(cam.id), Some(pid))
                .await
                .unwrap();
        let joined =
            t.db.events()
                .create_joining(motion(cam.id), pid)
                .await
                .unwrap();
        assert_eq!(joined.playback_id, Some(pid));
        assert_eq!(t.db.events().open_events_of(pid).await.unwrap(), 2);

        let e =
            t.db.events()
                .create_joining(motion(other.id), pid)
                .await
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "another camera's recording");

        t.db.events()
            .mark_ended(first.id, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert_eq!(t.db.events().open_events_of(pid).await.unwrap(), 1);

        t.db.playbacks()
            .transition(pid, RecordingStatus::Failed, PlaybackUpdate::default())
            .await
            .unwrap();
        let e =
            t.db.events()
                .create_joining(motion(cam.id), pid)
                .await
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "a finished recording");
    }
);

both!(
    webhook_deliveries_are_claimed_once_retried_and_hold_their_clip,
    |t: TestDatabase| async move {
        use vigil_domain::{Attempt, Delivery, NewWebhook, PushKind};
        let hooks = t.db.webhooks();
        let hook = hooks
            .create(NewWebhook {
                url: "http://93.184.216.34/hook".into(),
                events: vec![PushKind::PlaybackCompleted, PushKind::EventCreated],
                description: None,
                secret: "whsec_x".into(),
            })
            .await
            .unwrap();
        assert_eq!(hooks.get(hook.id).await.unwrap().unwrap(), hook);
        assert_eq!(hooks.all().await.unwrap().len(), 1);
        // A stored clip, finished.
        let cam = t.db.cameras().create(new_camera("Gate")).await.unwrap();
        let pid = PlaybackId::new();
        t.db.events()
            .create(motion(cam.id), Some(pid))
            .await
            .unwrap();
        let pbs = t.db.playbacks();
        for s in [
            RecordingStatus::Recording,
            RecordingStatus::Processing,
            RecordingStatus::Completed,
        ] {
            pbs.transition(pid, s, PlaybackUpdate::default())
                .await
                .unwrap();
        }
        assert_eq!(pbs.oldest_finished(None, 10).await.unwrap().len(), 1);
        let d = Delivery {
            id: uuid::Uuid::new_v4(),
            webhook_id: hook.id,
            kind: PushKind::PlaybackCompleted,
            playback_id: Some(pid),
            body: r#"{"type":"playback.completed"}"#.into(),
            attempts: 0,
            created_at: time::OffsetDateTime::now_utc(),
        };
        hooks.enqueue(d.clone()).await.unwrap();
        assert!(
            pbs.oldest_finished(None, 10).await.unwrap().is_empty(),
            "a pending delivery keeps its clip from retention"
        );
        let claimed = hooks.claim_due(Duration::from_secs(60), 10).await.unwrap();
        assert_eq!(
            claimed.iter().map(|c| (c.id, &c.body)).collect::<Vec<_>>(),
            vec![(d.id, &d.body)]
        );
        assert!(
            hooks
                .claim_due(Duration::from_secs(60), 10)
                .await
                .unwrap()
                .is_empty(),
            "held while leased"
        );
        let attempt = |n: u32, code: Option<u16>| Attempt {
            delivery_id: d.id,
            kind: d.kind,
            playback_id: d.playback_id,
            attempt: n,
            status_code: code,
            error: code.is_none().then(|| "cannot connect".to_owned()),
            at: time::OffsetDateTime::now_utc(),
        };
        // Failed: due again at once (a retry time in the past).
        hooks
            .record(
                hook.id,
                attempt(1, None),
                Some(time::OffsetDateTime::now_utc()),
            )
            .await
            .unwrap();
        let again = hooks.claim_due(Duration::from_secs(60), 10).await.unwrap();
        assert_eq!(again[0].attempts, 1);
        hooks
            .record(hook.id, attempt(2, Some(204)), None)
            .await
            .unwrap();
        assert!(
            hooks
                .claim_due(Duration::ZERO, 10)
                .await
                .unwrap()
                .is_empty(),
            "done"
        );
        assert_eq!(
            pbs.oldest_finished(None, 10).await.unwrap().len(),
            1,
            "released"
        );
        let listed = hooks.attempts(hook.id, Page::default()).await.unwrap();
        assert_eq!(listed.total, 2);
        assert_eq!(listed.rows[0].attempt, 2, "newest first");
        assert_eq!(listed.rows[1].error.as_deref(), Some("cannot connect"));
        assert!(hooks.delete(hook.id).await.unwrap());
        assert!(hooks
            .attempts(hook.id, Page::default())
            .await
            .unwrap()
            .rows
            .is_empty());
        assert!(!hooks.delete(hook.id).await.unwrap());
    }
);

both!(nodes_beat_and_are_listed, |t: TestDatabase| async move {
    let nodes = t.db.nodes();
    assert!(nodes.list().await.unwrap().is_empty());
    let started = time::OffsetDateTime::now_utc() - time::Duration::minutes(3);
    let beat = vigil_domain::NodeBeat {
        id: "node-b".parse().unwrap(),
        started_at: started,
        cameras: 3,
        recordings: 1,
    };
    nodes.beat(&beat).await.unwrap();
    let first = nodes.list().await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].cameras, first[0].recordings), (3, 1));
    assert!((first[0].started_at - started).abs() < time::Duration::milliseconds(1));
    // A later beat updates the same node.
    nodes
        .beat(&vigil_domain::NodeBeat {
            recordings: 0,
            ..beat.clone()
        })
        .await
        .unwrap();
    nodes
        .beat(&vigil_domain::NodeBeat {
            id: "node-a".parse().unwrap(),
            ..beat
        })
        .await
        .unwrap();
    let listed = nodes.list().await.unwrap();
    let ids: Vec<_> = listed.iter().map(|n| n.id.to_string()).collect();
    assert_eq!(ids, ["node-a", "node-b"]);
    assert_eq!(listed[1].recordings, 0);
    assert!(listed[1].last_seen_at >= first[0].last_seen_at);
    let now = time::OffsetDateTime::now_utc();
    assert!(listed[1].alive(now, Duration::from_secs(10)));
});

/// Three nodes on one database, all beating now.
async fn three_nodes(t: &TestDatabase) -> [vigil_persistence::Database; 3] {
    let lease = Duration::from_secs(10);
    let nodes =
        ["node-a", "node-b", "node-c"].map(|id| t.db.clone().of_node(&id.parse().unwrap(), lease));
    for (id, db) in ["node-a", "node-b", "node-c"].iter().zip(&nodes) {
        db.nodes()
            .beat(&vigil_domain::NodeBeat {
                id: id.parse().unwrap(),
                started_at: time::OffsetDateTime::now_utc(),
                cameras: 1,
                recordings: 0,
            })
            .await
            .unwrap();
    }
    nodes
}

async fn forget_node(t: &TestDatabase, id: &str) {
    let conn = migration::connect(&t.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    conn.execute_unprepared(&format!("DELETE FROM nodes WHERE id = '{id}'"))
        .await
        .unwrap();
    let _ = conn.close().await;
}

both!(
    a_nodes_work_stays_its_own_until_it_is_lost,
    |t: TestDatabase| async move {
        let lease = Duration::from_secs(10);
        let [a, b, c] = three_nodes(&t).await;
        let cam = a.cameras().create(new_camera("Lot")).await.unwrap();
        // One clip whose take ended (its upload is queued), one still
        // recording.
        let (queued, recording) = (PlaybackId::new(), PlaybackId::new());
        a.events()
            .create(motion(cam.id), Some(queued))
            .await
            .unwrap();
        a.events()
            .create(motion(cam.id), Some(recording))
            .await
            .unwrap();
        a.jobs()
            .enqueue(vigil_domain::NewJob {
                playback_id: queued,
                kind: vigil_domain::JobKind::Upload,
                dir: "/a/recordings/x".into(),
                note: None,
            })
            .await
            .unwrap();

        // While node-a is alive its playbacks and job are its own.
        let pending = |db: &vigil_persistence::Database| {
            let p = db.playbacks();
            async move {
                p.in_status(RecordingStatus::Pending)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|p| p.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(pending(&a).await.len(), 2);
        assert!(
            pending(&b).await.is_empty(),
            "another node's in-flight playbacks"
        );
        assert_eq!(
            pending(&t.db).await.len(),
            2,
            "a database of no node sees all"
        );
        assert!(b.playbacks().adopt_orphans(&[]).await.unwrap().is_empty());
        assert!(b.jobs().claim("worker-b", lease).await.unwrap().is_none());

        // node-a is lost: one of the survivors adopts the recording one;
        // the queued one goes with its job to the queue that claims it.
        forget_node(&t, "node-a").await;
        let (pb, pc) = (b.playbacks(), c.playbacks());
        // Not while another node holds the camera: that one adopts it.
        assert!(pb.adopt_orphans(&[cam.id]).await.unwrap().is_empty());
        let (x, y) = tokio::join!(pb.adopt_orphans(&[]), pc.adopt_orphans(&[]));
        let (x, y) = (x.unwrap(), y.unwrap());
        let adopted: Vec<_> = x.iter().chain(&y).map(|p| p.id).collect();
        assert_eq!(
            adopted,
            vec![recording],
            "adopted once, without the job's: {x:?} {y:?}"
        );
        let adopter = if x.is_empty() { &c } else { &b };
        assert!(pending(adopter).await.contains(&recording));
        assert!(b.playbacks().adopt_orphans(&[]).await.unwrap().is_empty());
        assert!(c.playbacks().adopt_orphans(&[]).await.unwrap().is_empty());
        let claimed = b.jobs().claim("worker-b", lease).await.unwrap().unwrap();
        assert_eq!(claimed.playback_id, queued);
        assert!(pending(&b).await.contains(&queued), "the claimer's now");
        // Its status writes are the claimer's: the others are fenced off.
        let err = c
            .playbacks()
            .transition(queued, RecordingStatus::Failed, PlaybackUpdate::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), vigil_domain::ErrorKind::Conflict, "{err}");
        b.playbacks()
            .transition(
                queued,
                RecordingStatus::Recording,
                PlaybackUpdate::default(),
            )
            .await
            .unwrap();
    }
);

both!(
    a_camera_lease_is_held_by_one_node_and_changes_hands_with_a_new_epoch,
    |t: TestDatabase| async move {
        let ttl = Duration::from_secs(10);
        let [a, b, _] = three_nodes(&t).await;
        let (na, nb): (vigil_domain::NodeId, vigil_domain::NodeId) =
            ("node-a".parse().unwrap(), "node-b".parse().unwrap());
        let cam = a.cameras().create(new_camera("Gate")).await.unwrap().id;
        let (la, lb) = (a.leases(), b.leases());
        assert_eq!(la.claim(cam, &na, ttl).await.unwrap(), Some(1));
        assert_eq!(lb.claim(cam, &nb, ttl).await.unwrap(), None, "held by a");
        assert_eq!(
            la.claim(cam, &na, ttl).await.unwrap(),
            Some(1),
            "renewed, same epoch"
        );
        let renewed = la.renew(&na, ttl).await.unwrap();
        assert_eq!(
            renewed
                .iter()
                .map(|l| (l.camera, l.epoch))
                .collect::<Vec<_>>(),
            vec![(cam, 1)]
        );
        assert!(lb.renew(&nb, ttl).await.unwrap().is_empty());

        // Given back: the next holder has the next epoch; the old one
        // renews nothing.
        la.release(cam, &na).await.unwrap();
        assert!(la.renew(&na, ttl).await.unwrap().is_empty());
        assert_eq!(lb.claim(cam, &nb, ttl).await.unwrap(), Some(2));
        assert_eq!(la.claim(cam, &na, ttl).await.unwrap(), None);
        let all = la.all().await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(
            (all[0].node.as_str(), all[0].epoch, all[0].held(now)),
            ("node-b", 2, true)
        );

        // Two nodes asking at once for a free camera: one gets it.
        for name in ["Yard", "Dock", "Roof"] {
            let cam = a.cameras().create(new_camera(name)).await.unwrap().id;
            let (x, y) = tokio::join!(la.claim(cam, &na, ttl), lb.claim(cam, &nb, ttl));
            let won = [x.unwrap(), y.unwrap()];
            assert_eq!(won.iter().flatten().count(), 1, "{name}: {won:?}");
        }
        let held_b = lb.renew(&nb, ttl).await.unwrap().len();
        assert_eq!(lb.release_all(&nb).await.unwrap() as usize, held_b);
        assert!(lb.renew(&nb, ttl).await.unwrap().is_empty());
        assert!(la
            .all()
            .await
            .unwrap()
            .iter()
            .all(|l| l.node.as_str() == "node-a" || !l.held(time::OffsetDateTime::now_utc())));
    }
);

both!(
    a_recording_handed_to_the_cameras_owner_is_started_once,
    |t: TestDatabase| async move {
        let [a, b, c] = three_nodes(&t).await;
        let nb: vigil_domain::NodeId = "node-b".parse().unwrap();
        let cam = a.cameras().create(new_camera("Gate")).await.unwrap().id;
        let window = vigil_domain::RecordWindow {
            pre_roll: Duration::from_secs(3),
            post_roll: Duration::from_secs(2),
            trigger: Some(
                std::time::SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_500),
            ),
        };
        let pid = PlaybackId::new();
        a.events().create(motion(cam), Some(pid)).await.unwrap();
        a.playbacks().hand_off(pid, &nb, &window).await.unwrap();
        // Not node-a's to recover any more, and not node-c's to start.
        assert!(a
            .playbacks()
            .in_status(RecordingStatus::Pending)
            .await
            .unwrap()
            .is_empty());
        assert!(
            b.playbacks()
                .in_status(RecordingStatus::Pending)
                .await
                .unwrap()
                .is_empty(),
            "not started yet"
        );
        assert_eq!(b.playbacks().handoffs(&[]).await.unwrap(), vec![(pid, cam)]);
        assert!(
            c.playbacks().handoffs(&[cam]).await.unwrap().is_empty(),
            "node-b is alive"
        );
        assert_eq!(c.playbacks().take_handoff(pid).await.unwrap(), None);
        assert!(a.playbacks().recorded_elsewhere(pid).await.unwrap());
        let (b1, b2) = (b.playbacks(), b.playbacks());
        let (x, y) = tokio::join!(b1.take_handoff(pid), b2.take_handoff(pid));
        let taken: Vec<_> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken, vec![window], "taken once, the window as handed");
        assert!(b.playbacks().handoffs(&[]).await.unwrap().is_empty());
        assert_eq!(
            b.playbacks()
                .in_status(RecordingStatus::Pending)
                .await
                .unwrap()
                .len(),
            1
        );

        // A node stopping gives its unstarted hand-offs to the camera's
        // next owner; so does a node that is lost.
        let (p2, p3) = (PlaybackId::new(), PlaybackId::new());
        for p in [p2, p3] {
            a.events().create(motion(cam), Some(p)).await.unwrap();
            a.playbacks().hand_off(p, &nb, &window).await.unwrap();
        }
        assert_eq!(b.playbacks().release_handoffs().await.unwrap(), 2);
        assert!(b.playbacks().handoffs(&[]).await.unwrap().is_empty());
        assert!(
            c.playbacks().handoffs(&[]).await.unwrap().is_empty(),
            "only the camera's owner"
        );
        let at_c: Vec<_> = c
            .playbacks()
            .handoffs(&[cam])
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(at_c, vec![p2, p3]);
        assert_eq!(c.playbacks().take_handoff(p2).await.unwrap(), Some(window));
        a.playbacks().hand_off(p3, &nb, &window).await.unwrap();
        forget_node(&t, "node-b").await;
        assert_eq!(
            c.playbacks().handoffs(&[cam]).await.unwrap(),
            vec![(p3, cam)]
        );
        assert!(
            c.playbacks()
                .adopt_orphans(&[])
                .await
                .unwrap()
                .iter()
                .all(|p| p.id != p3),
            "left to the owner"
        );
    }
);
