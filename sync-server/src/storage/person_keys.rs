//! 擦除: person keys and erasures (crypto-shredding). A role of [`crate::storage::Storage`]
//! (rank 2, `storage`).

use gridbook_core::sync::{Erasure, PersonKeyEntry};

use crate::storage::Result;

/// Person keys and erasures (crypto-shredding, issue 9, docs/adr/0004-crypto-shredding.md).
pub trait PersonKeys {
    /// Keep keys uploaded by a device. A key is kept unless its person was erased, a key is
    /// held already, or the person's record (if the server has it) is in a scope `may_write`
    /// refuses. Returns the person ids whose held key is the one sent (acknowledged).
    fn put_person_keys(&self, keys: &[PersonKeyEntry], may_write: &dyn Fn(&str) -> bool) -> Result<Vec<String>>;
    /// The held keys of those of `ids` that have one (the persons among a pull page).
    fn person_keys_for(&self, ids: &[String]) -> Result<Vec<PersonKeyEntry>>;
    /// Erasures after sequence number `seq`, in order, at most `limit`.
    fn erasures_after(&self, seq: u64, limit: usize) -> Result<Vec<Erasure>>;
    /// Erase a person: destroy its key (overwritten in the file), record the erasure for the
    /// devices, rebuild the person's query rows, truncate the WAL. Returns the erasure's sequence
    /// number (the same one again for a person already erased); `not_found` unless `person_id`
    /// is a person record.
    fn erase_person(&self, person_id: &str, at: i64) -> Result<u64>;
}
