//! Applying a 10,000-file layer tarball with `apply_layer` vs `tar -x` of the same archive,
//! timed in the same run; prints the ratio. `cargo bench -p laboverlay --bench apply`.

use laboverlay::{apply_layer, write_layer, ApplyOptions, LayerOptions};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const ROUNDS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // Default: /dev/shm (tmpfs), so the disk and other processes' writeback do not drown the
    // difference between the two extractors; LABCTL_BENCH_DIR=/var/tmp measures on disk.
    let base = std::env::var_os("LABCTL_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" }));
    let scratch = tempfile::Builder::new().prefix("labctl-bench-").tempdir_in(&base).expect("tempdir");
    println!("scratch: {} ({})", base.display(), laboverlay::fs_name(&base));
    let tree = scratch.path().join("tree");
    let mut bytes = 0usize;
    for d in 0..DIRS {
        let dir = tree.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            let size = 64 + (d * 31 + f * 17) % 4000;
            bytes += size;
            std::fs::write(dir.join(format!("f{f:03}.txt")), vec![b'a' + (f % 26) as u8; size]).unwrap();
        }
    }
    let layer = scratch.path().join("layer.tar");
    let file = std::io::BufWriter::new(std::fs::File::create(&layer).unwrap());
    let summary = write_layer(&tree, file, &LayerOptions { source_date_epoch: Some(0), owner: None }).unwrap();
    println!(
        "layer: {} entries ({} files, {} KiB of data), {} KiB tar",
        summary.entries,
        DIRS * FILES_PER_DIR,
        bytes / 1024,
        std::fs::metadata(&layer).unwrap().len() / 1024
    );

    let fresh = |name: &str, round: usize| {
        let p = scratch.path().join(format!("{name}-{round}"));
        std::fs::create_dir(&p).unwrap();
        p
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate who goes first so neither always gets the warmer cache.
        let order: [bool; 2] = if round % 2 == 0 { [true, false] } else { [false, true] };
        for run_ours in order {
            if run_ours {
                let target = fresh("ours", round);
                let start = Instant::now();
                let input = std::fs::File::open(&layer).unwrap();
                apply_layer(input, &target, &ApplyOptions::default()).unwrap();
                ours.push(start.elapsed());
                remove(&target);
            } else {
                let target = fresh("tar", round);
                let start = Instant::now();
                let status = Command::new("tar").arg("-xf").arg(&layer).arg("-C").arg(&target).status().unwrap();
                theirs.push(start.elapsed());
                assert!(status.success(), "tar -x failed");
                remove(&target);
            }
        }
    }
    let (o, t) = (median(ours.clone()), median(theirs.clone()));
    println!("apply_layer: median {:.1} ms over {ROUNDS} rounds ({:?})", o.as_secs_f64() * 1e3, ms(&ours));
    println!("tar -x     : median {:.1} ms over {ROUNDS} rounds ({:?})", t.as_secs_f64() * 1e3, ms(&theirs));
    println!(
        "ratio apply_layer / tar -x = {:.2} ({})",
        o.as_secs_f64() / t.as_secs_f64(),
        if o <= t { "at least as fast as tar: target met" } else { "slower than tar: target missed" }
    );
}

fn ms(v: &[Duration]) -> Vec<String> {
    v.iter().map(|d| format!("{:.0}", d.as_secs_f64() * 1e3)).collect()
}

fn remove(p: &Path) {
    std::fs::remove_dir_all(p).unwrap();
}
