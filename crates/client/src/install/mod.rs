//! Installing bundles from a registry: resolve in waves, prepare while resolving, apply, commit.
//!
//! An install, update or removal goes through one pipeline, each step in its own module:
//!
//! 1. **Lock** ([`lock`](mod@lock)): the command takes the installation lock
//!    (`data/.install.lock`) for its whole run, so two processes never change the installed
//!    state at once; a lockfile left older than `installed.json` by a kill is repaired here.
//!    Then an install whose request `installed.json` and `ratchet.lock` already record, on an
//!    intact installed tree, stops without a single request ([`noop`]).
//! 2. **Open** ([`client`]): [`Client::open_prefetching`] fetches `config.json` together with
//!    the index and metadata files of the bundles the resolution starts from (index paths do not
//!    depend on the config), in one round trip.
//! 3. **Resolve in waves** ([`Client::resolve`]): the PubGrub resolver ([`crate::resolver`])
//!    asks for the index files it misses; each request is one *wave* of parallel fetches, so the
//!    number of round trips follows the dependency graph's depth, not its size, and with the
//!    roots' prefetch hints (index-format.md §6.5.1), fetched in the first wave, the whole
//!    graph comes in the second. Metadata files (owners, deprecation) travel in the same wave
//!    as their index file.
//! 4. **Prepare while resolving** ([`prepare`]): when the command will not stop to ask for
//!    confirmation, each wave also downloads the archives of the versions the resolution will
//!    most likely choose (guessed from what is loaded so far), and the install's own worker
//!    threads (module `pool`) verify and unpack them while the next wave is in flight.
//! 5. **Plan** ([`plan()`]): the resolved graph is compared with the installed state
//!    ([`state`]): what is unchanged, what is new, what replaces another version, what goes.
//!    Installed versions are kept when they still fit, so an operation changes as little as
//!    possible; `--locked` installs exactly a lockfile or refuses.
//! 6. **Apply** ([`apply()`]): archives not prepared yet (or prepared from a wrong guess) are
//!    downloaded, verified (every check of `index-format.md` §7.6, [`crate::verify`]) and
//!    unpacked into `bundles/<id>/<version>/`, which nothing names yet.
//! 7. **Commit** ([`InstalledState::commit`]): owner pins are saved and everything is synced,
//!    then `installed.json` is replaced atomically (the commit point), then `ratchet.lock`.
//!    A failure or a kill at any earlier moment leaves the previous installation as it was;
//!    after the commit, versions no longer used are deleted.
//!
//! Layout under `Paths.data` (normative in `index-format.md` §8):
//! - `bundles/<id>/<version>/`: an extracted archive;
//! - `installed.json`: the installed set;
//! - `ratchet.lock`: exact versions, archive hashes and source registry, enough to reinstall
//!   the same bytes elsewhere (`--locked`).

mod apply;
pub mod client;
mod error;
pub mod lock;
pub mod noop;
mod plan;
mod pool;
pub mod prepare;
pub mod state;

pub use apply::{Applied, ApplyOptions, Removal, apply, plan_removal, remove};
pub use client::Client;
pub(crate) use error::local;
pub use error::{InstallError, MetaError, PanickedTask};
pub use lock::{INSTALL_LOCK_FILE, InstallLock, lock, repair_lockfile};
pub use noop::{Satisfied, Wanted, satisfied_locally};
pub use plan::{Plan, PlanRequest, PlannedBundle, parse_spec, plan};
pub use state::{
    BUNDLES_DIR, INSTALLED_FILE, InstalledBundle, InstalledState, LOCK_FILE, LockedBundle,
    Lockfile, STATE_FORMAT, bundle_dir, find_installed,
};
