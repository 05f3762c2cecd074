//! Creating the first admin on an empty install.

use std::future::Future;
use vigil_domain::{ports::UserRepo, Error, NewUser, Role};

/// Creates the user `make` describes, as an ADMIN, when there are no users
/// yet, and returns it; `make` (which parses and hashes what the operator
/// configured) is only called then, so a bad setting does not matter once
/// users exist.
pub async fn ensure_first_admin<F, Fut, E>(
    users: &dyn UserRepo,
    make: F,
) -> Result<Option<NewUser>, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<NewUser, E>>,
    E: From<Error>,
{
    if users.count().await? > 0 {
        return Ok(None);
    }
    let new = NewUser {
        role: Role::Admin,
        ..make().await?
    };
    users.create(new.clone()).await?;
    Ok(Some(new))
}
