//! The write-ahead log reader over arbitrary file contents: it recovers a
//! prefix or refuses the header, and never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("sealtrail-fuzz-wal-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join("current.wal");
    if std::fs::write(&p, data).is_ok() {
        if let Ok((_, rec)) = sealtrail::store::wal::Wal::recover(&p) {
            assert!(rec.torn_bytes as usize <= data.len());
        }
    }
});
