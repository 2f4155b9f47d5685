//! What the server's own text work costs per batch of edits: `normalize_ids` (run after every
//! batch that changed a document) and `read_sections` (the structured text, read for the API,
//! versions and amendments), on the demo Manifesto and on one ten times its size.
//!
//! `cargo run --release -p manifesto-server --example text_costs`

use std::time::Instant;

use manifesto_protocol::yrs::{self, Transact, WriteTxn};
use manifesto_server::text::{
    import_markdown, normalize_ids, read_sections, write_manuscript, IdIssuer, FRAGMENT_NAME,
};

fn main() {
    let demo = include_str!("../demo/manifesto-demo.en.md");
    let mut draft = import_markdown(demo).expect("the demo imports");
    for (label, copies) in [("demo", 1), ("demo x10", 10)] {
        let mut big = draft.clone();
        big.sections = (0..copies).flat_map(|_| draft.sections.clone()).collect();
        // Only the first section may be an untitled preamble; the demo's has a heading.
        let doc = yrs::Doc::new();
        let mut ids = IdIssuer::new([]);
        let fragment = {
            let mut txn = doc.transact_mut();
            let fragment = txn.get_or_insert_xml_fragment(FRAGMENT_NAME);
            write_manuscript(&mut txn, &fragment, &big, &mut ids).expect("write");
            fragment
        };
        let n_blocks = {
            let txn = doc.transact();
            read_sections(&txn, &fragment)
                .iter()
                .map(|s| 1 + s.paragraphs.len())
                .sum::<usize>()
        };
        let rounds = 2_000;
        let started = Instant::now();
        for _ in 0..rounds {
            let mut txn = doc.transact_mut();
            let changes = normalize_ids(&mut txn, &fragment, &mut ids);
            assert!(changes.is_empty());
        }
        let normalize = started.elapsed() / rounds;
        let started = Instant::now();
        for _ in 0..rounds {
            let txn = doc.transact();
            std::hint::black_box(read_sections(&txn, &fragment));
        }
        let read = started.elapsed() / rounds;
        println!("{label}: {n_blocks} blocks; normalize_ids {normalize:?} per batch; read_sections {read:?}");
    }
    draft.sections.clear();
}
