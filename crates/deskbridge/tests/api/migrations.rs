//! The two migration trees (SQLite and PostgreSQL) stay in step: the same files, line for line,
//! except the one spelling each engine has for an auto-numbered id column.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SQLITE_ID: &str = "id INTEGER PRIMARY KEY AUTOINCREMENT,";
const POSTGRES_ID: &str = "id BIGSERIAL PRIMARY KEY,";

fn tree(engine: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine)
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_sqlite_and_postgres_migrations_are_identical_but_for_the_id_column() {
    let (sqlite, postgres) = (tree("sqlite"), tree("postgres"));
    let files = names(&sqlite);
    assert!(
        !files.is_empty(),
        "no migrations found in {}",
        sqlite.display()
    );
    assert_eq!(files, names(&postgres), "both trees hold the same files");
    for f in &files {
        let a = std::fs::read_to_string(sqlite.join(f)).unwrap();
        let b = std::fs::read_to_string(postgres.join(f)).unwrap();
        let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        assert_eq!(a.len(), b.len(), "{f}: the trees differ in length");
        for (n, (x, y)) in a.iter().zip(&b).enumerate() {
            let same = x == y || (x.trim() == SQLITE_ID && y.trim() == POSTGRES_ID);
            assert!(same, "{f} line {}: sqlite {x:?} vs postgres {y:?}", n + 1);
        }
    }
}
