//! `admin import-residents` (居民导入; rank 5, `cli`): arguments in, the service's
//! ([`crate::admin::residents`]) answer printed; who may import is the service's rule
//! ([`crate::admin::residents::check_operator`]).

use std::path::PathBuf;

use crate::admin::residents;
use crate::cli::open_storage;

/// `admin import-residents`: check (`--dry-run`) or import a residents file as `operator`.
pub(super) fn import(data: PathBuf, operator: String, dry_run: bool, file: PathBuf) -> Result<(), String> {
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let storage = open_storage(&data)?;
    residents::check_operator(&storage, &operator).map_err(|e| e.to_string())?;
    let today = residents::today();
    let result = if dry_run {
        residents::validate(&storage, &bytes, today).map(|h| {
            let persons: usize = h.iter().map(|h| h.persons.len()).sum();
            println!(
                "校验通过 / the file is clean: {} 户 households, {persons} 人 persons",
                h.len()
            );
        })
    } else {
        residents::import(&storage, &bytes, &operator, today).map(|o| {
            println!(
                "导入完成 / imported: {} 行 rows, {} 户 households, {} 人 persons",
                o.rows, o.households, o.persons
            );
        })
    };
    result.map_err(|e| {
        if let residents::ImportError::Rejected(report) = &e {
            print!("{}", report.to_text());
        }
        format!("{} [{}]", e.message_zh(), e.code())
    })
}
