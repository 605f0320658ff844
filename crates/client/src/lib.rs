//! `ratchet-client`: everything the `ratchet` command does with registries.
//!
//! - [`paths`]: where installed bundles, the cache and the configuration live (XDG or
//!   `RATCHET_HOME`);
//! - [`registry`]: configured registries, credentials, and the sparse fetcher (waves of
//!   conditional HTTP requests or `file://` reads, the on-disk cache);
//! - [`resolver`]: PubGrub resolution over index lines, the dependency graph and install order;
//! - [`verify`]: every trust check an install makes (§7.6 of `index-format.md`) and the pin store;
//! - [`search`]: queries over a registry's search catalog through the fetcher (cache,
//!   `--offline`, size limits);
//! - [`install`]: plan, prepare, apply and commit an install, update or removal;
//! - [`integrity`]: the signed timestamp, rollback/freeze/fork refusals and the state map
//!   proofs every registry file is checked with (`index-format.md` §9.7);
//! - [`events`]: what the client tells its user ([`events::Event`]), through a
//!   [`events::Reporter`] the front end supplies: the library never prints.
//!
//! Data flows one way: the CLI calls [`install`]; install fetches through [`registry`], resolves
//! with [`resolver`], checks with [`verify`] (which uses `ratchet-trust`) and reads every file
//! through `ratchet-formats`.

pub mod enterprise;
pub mod events;
pub mod install;
pub mod integrity;
pub mod mirror;
pub mod paths;
pub mod quality;
pub mod registry;
pub mod resolver;
pub mod search;
pub mod vendor;
pub mod verify;
