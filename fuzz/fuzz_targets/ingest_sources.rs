//! Every ingest adapter (chosen by the first byte) over arbitrary input:
//! records, bad records or skips, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sealtrail::ingest::{self, Parsed};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let names = ingest::source_names();
    let name = names[pick as usize % names.len()];
    let Ok(mut src) = ingest::source_by_name(name) else { return };
    let mut emit = |p: Parsed| {
        if let Parsed::Event(mut r, _) = p {
            r.derive();
            if r.validate().is_ok() {
                // a valid record must round-trip through its leaf
                let leaf = r.to_leaf();
                assert!(sealtrail::model::Record::from_leaf(&leaf).is_ok());
            }
        }
        Ok(())
    };
    let _ = src.parse(&mut &body[..], "fuzz", &mut emit);
    let _ = src.finish(&mut emit);
    let _ = ingest::detect(body);
});
