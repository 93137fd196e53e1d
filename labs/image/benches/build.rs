//! Benchmark: building the course's Dockerfile (a 2 MB binary ADDed onto a busybox base) with
//! labctl vs `buildah bud --storage-driver vfs --no-cache` on the same context, and a cached
//! rebuild. Prints medians and ratios in one run. `cargo bench -p labimage --bench build`.
//! Needs busybox-static; buildah is optional (its numbers are skipped, with the reason, when
//! it is missing or cannot build here).

use labimage::build::{build, BuildOptions};
use labimage::Store;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DOCKERFILE: &str = "FROM busybox
ENV MY_SERVICE_PORT=80
LABEL multi.label1=\"value1\" multi.label2=\"value2\" other=\"value3\"
ADD bin/amd64/httpserver /httpserver
EXPOSE 80
ENTRYPOINT /httpserver
";

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    // buildah names an image pulled from an oci: layout after its path, which must be lowercase.
    let dir = TempDir(std::env::temp_dir().join(format!("labctl-bench-{}", std::process::id())));
    std::fs::create_dir_all(dir.path()).expect("temp dir");
    let store = Store::open(dir.path().join("images")).expect("store");
    labimage::import::import_busybox(&store, "busybox").expect("import --busybox (apt-get install busybox-static)");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("bin/amd64")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    // A 2 MB binary: the host's busybox stands in for the course's Go httpserver.
    std::fs::copy("/bin/busybox", ctx.join("bin/amd64/httpserver")).unwrap();
    let size = std::fs::metadata(ctx.join("bin/amd64/httpserver")).unwrap().len();

    let opts =
        |no_cache| BuildOptions { tag: "httpserver".into(), context: ctx.clone(), no_cache, ..Default::default() };
    let runs = 15;
    let mut fresh = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        build(&store, &opts(true), &mut |_| {}).expect("build");
        fresh.push(t.elapsed());
    }
    let mut cached = Vec::new();
    for _ in 0..runs * 2 {
        let t = Instant::now();
        let r = build(&store, &opts(false), &mut |_| {}).expect("build");
        cached.push(t.elapsed());
        assert!(r.steps.iter().filter(|s| s.layer.is_some()).all(|s| s.cached));
    }
    let (fresh, cached) = (median(fresh), median(cached));
    println!("context: course Dockerfile, httpserver = {:.1} MB", size as f64 / 1e6);
    println!("labctl build --no-cache   median {} ({runs} runs)", ms(fresh));
    println!(
        "labctl build (cached)     median {} ({} runs)  target < 10 ms: {}",
        ms(cached),
        runs * 2,
        if cached < Duration::from_millis(10) { "met" } else { "NOT met" }
    );

    match buildah(&store, dir.path(), &ctx) {
        Ok(b) => {
            println!("buildah bud --no-cache    median {} (vfs)", ms(b));
            println!(
                "ratio labctl/buildah      {:.3}  (target <= 0.5: {})",
                fresh.as_secs_f64() / b.as_secs_f64(),
                if fresh.as_secs_f64() <= 0.5 * b.as_secs_f64() { "met" } else { "NOT met" }
            );
            println!("ratio cached/buildah      {:.4}", cached.as_secs_f64() / b.as_secs_f64());
        }
        Err(why) => println!("buildah: not measured: {why}"),
    }
}

/// Median of `buildah bud --storage-driver vfs --no-cache` on the same context, with the same
/// base pulled from our layout into a private buildah root (never the host's storage).
fn buildah(store: &Store, dir: &Path, ctx: &Path) -> Result<Duration, String> {
    let root = dir.join("buildah-root");
    let runroot = dir.join("buildah-runroot");
    let ba = || {
        let mut c = Command::new("buildah");
        c.arg("--root").arg(&root).arg("--runroot").arg(&runroot).args(["--storage-driver", "vfs"]);
        c
    };
    let run = |c: &mut Command| -> Result<(), String> {
        let out = c.output().map_err(|e| format!("cannot run buildah ({e}): apt-get install buildah"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    };
    let out = ba()
        .args(["pull", "-q"])
        .arg(format!("oci:{}:busybox:latest", store.root().display()))
        .output()
        .map_err(|e| format!("cannot run buildah ({e}): apt-get install buildah"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    run(ba().args(["tag", &id, "localhost/busybox:latest"]))?;
    let df = ctx.join("Containerfile.buildah");
    std::fs::write(&df, DOCKERFILE.replace("FROM busybox", "FROM localhost/busybox:latest")).unwrap();
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        run(ba().args(["bud", "--pull=never", "--no-cache", "-q", "-t", "hs", "-f"]).arg(&df).arg(ctx))?;
        times.push(t.elapsed());
    }
    let _ = run(ba().args(["rm", "--all"]));
    let _ = std::fs::remove_file(&df);
    Ok(median(times))
}
