//! Rebuilds the binary when a built-in runbook changes: they are embedded with `include_dir!`,
//! which cargo does not track by itself.

fn main() {
    println!("cargo:rerun-if-changed=runbooks");
    for entry in walk(std::path::Path::new("runbooks")) {
        println!("cargo:rerun-if-changed={}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}
