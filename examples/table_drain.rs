//! What the state's hash tables cost per text as they grow: ten
//! `MultiTable`s (the index's exact and eight band tables, the id table)
//! each get a lookup and an insert per text, as an ingest of one-paragraph
//! documents does, with the engine's allocator. Prints the cost per text
//! in windows, marking those in which a growth drains.
//!
//! cargo run --release --example table_drain -- [TEXTS] [WINDOW]

use std::time::Instant;

use chaff::table::MultiTable;

#[global_allocator]
static ALLOCATOR: chaff::alloc::LargeMapped<mimalloc::MiMalloc> =
    chaff::alloc::LargeMapped(mimalloc::MiMalloc);

const TABLES: usize = 10;

fn key(text: u64, table: usize) -> u32 {
    let x = text.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (table as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 29))
        .wrapping_mul(0x94d0_49bb_1331_11eb)
        .rotate_left(17) as u32
}

fn main() {
    let mut args = std::env::args().skip(1);
    let texts: u64 = args.next().map_or(4_000_000, |a| a.parse().expect("TEXTS"));
    let window: u64 = args.next().map_or(200_000, |a| a.parse().expect("WINDOW"));
    let mut tables: Vec<MultiTable> = (0..TABLES).map(|_| MultiTable::default()).collect();
    let (mut found, mut drained_ns, mut drained_n, mut steady_ns, mut steady_n) =
        (0u64, 0u128, 0u64, 0u128, 0u64);
    let mut t = Instant::now();
    let mut draining = false;
    for text in 0..texts {
        for (j, table) in tables.iter_mut().enumerate() {
            let k = key(text, j);
            // Mostly absent, as new text is; a tenth repeat an earlier key.
            let probe = if text % 10 == 0 && text > 0 {
                key(text / 2, j)
            } else {
                k
            };
            found += table.get(probe).count() as u64;
            table.insert(k, (text & 0x0fff_ffff) as u32);
            draining |= table.growing();
        }
        if (text + 1) % window == 0 {
            let ns = t.elapsed().as_nanos();
            let per = ns as f64 / window as f64;
            println!(
                "{:>10} {:>8.0} ns/text{}",
                text + 1,
                per,
                if draining { "  draining" } else { "" }
            );
            if draining {
                drained_ns += ns;
                drained_n += window;
            } else {
                steady_ns += ns;
                steady_n += window;
            }
            draining = false;
            t = Instant::now();
        }
    }
    println!(
        "steady {:.0} ns/text, windows with a drain {:.0} ns/text ({found} found)",
        steady_ns as f64 / steady_n.max(1) as f64,
        drained_ns as f64 / drained_n.max(1) as f64
    );
}
