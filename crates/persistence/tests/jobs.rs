#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The durable job queue on SQLite and PostgreSQL: claims, leases that run
//! out, delays, one job per playback, and concurrent workers that never take
//! the same job.

use std::{collections::HashSet, time::Duration};
use vigil_domain::{JobKind, NewJob, PlaybackId};
use vigil_persistence::{both, testing::TestDatabase};

fn job(kind: JobKind) -> NewJob {
    NewJob {
        playback_id: PlaybackId::new(),
        kind,
        dir: "/var/lib/vigil/recordings/x".into(),
        note: Some("camera dropped once".into()),
    }
}

const LEASE: Duration = Duration::from_secs(60);

both!(
    a_claimed_job_is_held_until_finished,
    |t: TestDatabase| async move {
        let q = t.db.jobs();
        let new = job(JobKind::Upload);
        let id = q.enqueue(new.clone()).await.unwrap();
        assert!(q.has_job(new.playback_id).await.unwrap());
        assert_eq!(q.depth().await.unwrap(), 1);

        let got = q.claim("worker-a", LEASE).await.unwrap().unwrap();
        assert_eq!(
            (got.id, got.playback_id, got.kind, got.attempts),
            (id, new.playback_id, JobKind::Upload, 1)
        );
        assert_eq!((got.dir, got.note), (new.dir, new.note));
        // Held: nobody else gets it.
        assert!(q.claim("worker-b", LEASE).await.unwrap().is_none());
        assert!(q.renew(id, "worker-a", LEASE).await.unwrap());
        assert!(!q.renew(id, "worker-b", LEASE).await.unwrap());

        q.finish(id).await.unwrap();
        assert!(!q.has_job(new.playback_id).await.unwrap());
        assert_eq!(q.depth().await.unwrap(), 0);
    }
);

both!(
    an_expired_lease_is_taken_over,
    |t: TestDatabase| async move {
        let q = t.db.jobs();
        let id = q.enqueue(job(JobKind::Finalize)).await.unwrap();
        let first = q.claim("crashed", Duration::ZERO).await.unwrap().unwrap();
        assert_eq!(first.id, id);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let again = q.claim("survivor", LEASE).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (id, 2));
        // The crashed worker's late renewal finds the job taken.
        assert!(!q.renew(id, "crashed", LEASE).await.unwrap());
    }
);

both!(
    a_job_put_back_waits_its_delay,
    |t: TestDatabase| async move {
        let q = t.db.jobs();
        let id = q.enqueue(job(JobKind::Upload)).await.unwrap();
        q.claim("w", LEASE).await.unwrap().unwrap();
        q.retry_later(id, "w", Duration::from_secs(3600), "store down")
            .await
            .unwrap();
        assert!(q.claim("w", LEASE).await.unwrap().is_none());

        let other = q.enqueue(job(JobKind::Upload)).await.unwrap();
        q.claim("w", LEASE).await.unwrap().unwrap();
        q.retry_later(other, "w", Duration::ZERO, "store down")
            .await
            .unwrap();
        let again = q.claim("w", LEASE).await.unwrap().unwrap();
        assert_eq!(
            (again.id, again.last_error.as_deref()),
            (other, Some("store down"))
        );
    }
);

both!(
    release_all_frees_an_owners_leases_at_once,
    |t: TestDatabase| async move {
        let q = t.db.jobs();
        q.enqueue(job(JobKind::Upload)).await.unwrap();
        q.enqueue(job(JobKind::Upload)).await.unwrap();
        q.claim("stopping", LEASE).await.unwrap().unwrap();
        q.claim("stopping", LEASE).await.unwrap().unwrap();
        assert!(q.claim("next", LEASE).await.unwrap().is_none());
        assert_eq!(q.release_all("stopping").await.unwrap(), 2);
        assert!(q.claim("next", LEASE).await.unwrap().is_some());
    }
);

both!(one_job_per_playback, |t: TestDatabase| async move {
    let q = t.db.jobs();
    let first = job(JobKind::Finalize);
    let id = q.enqueue(first.clone()).await.unwrap();
    let again = q
        .enqueue(NewJob {
            kind: JobKind::Upload,
            ..first.clone()
        })
        .await
        .unwrap();
    assert_eq!(id, again);
    assert_eq!(q.depth().await.unwrap(), 1);
    let got = q.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(got.kind, JobKind::Upload);
});

both!(
    concurrent_workers_never_share_a_job,
    |t: TestDatabase| async move {
        let q = t.db.jobs();
        for _ in 0..20 {
            q.enqueue(job(JobKind::Upload)).await.unwrap();
        }
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(j) = q.claim(&format!("w{w}"), LEASE).await.unwrap() {
                        got.push(j.id);
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!((all.len(), distinct.len()), (20, 20));
    }
);
