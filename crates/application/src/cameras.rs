//! Every camera, read a page at a time (cameras are few, but a page is
//! bounded): for start-up, retention and Frigate's name lookups.

use vigil_domain::{ports::CameraRepo, Camera, Error, Page};

pub async fn all_cameras(cameras: &dyn CameraRepo) -> Result<Vec<Camera>, Error> {
    let mut all = Vec::new();
    loop {
        let offset = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let limit = Page::MAX_LIMIT;
        let page = Page::parse(Some(limit as i64), Some(offset)).map_err(Error::internal)?;
        let rows = cameras.list(page).await?.rows;
        let last = (rows.len() as u64) < limit;
        all.extend(rows);
        if last {
            return Ok(all);
        }
    }
}
