//! `image pull`: a real registry (Debian's docker-registry, fed by skopeo) and a fake one on
//! 127.0.0.1 for the failure cases (401, 404, 500, truncated and corrupted downloads).

mod common;

use common::{fails_with, ok, stderr, stdout, Env};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the fake registry saw it.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: HashMap<String, String>,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many body bytes (Content-Length still says the whole), then close.
    truncate: Option<usize>,
}

impl Response {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response { status, headers: vec![], body: body.into(), truncate: None }
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers with `handler`. It stops by itself
/// after 30 s or 200 connections; the requests it saw are recorded.
struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    fn start(handler: impl Fn(&Request, u16) -> Response + Send + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut served = 0;
            while Instant::now() < deadline && served < 200 {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                served += 1;
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let req = Request { path, headers };
                log.lock().unwrap().push(req.clone());
                let resp = handler(&req, port);
                let mut out = stream;
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    resp.status,
                    resp.body.len()
                );
                for (k, v) in &resp.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = out.write_all(head.as_bytes());
                let n = resp.truncate.unwrap_or(resp.body.len());
                let _ = out.write_all(&resp.body[..n]);
                let _ = out.flush();
            }
        });
        Fake { port, seen }
    }

    fn reference(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }

    fn saw(&self, f: impl Fn(&Request) -> bool) -> bool {
        self.seen.lock().unwrap().iter().any(f)
    }
}

/// An image built locally: (manifest digest, path → blob bytes as a registry serves them).
fn served_image(env: &Env) -> (String, HashMap<String, (String, Vec<u8>)>) {
    // Incompressible enough that the gzipped layer stays large (an LCG over 64 symbols).
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 42;
    let big: String = (0..200_000)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ALPHABET[(x >> 58) as usize] as char
        })
        .collect();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM scratch\nCOPY big /big\nCMD [\"/big\"]\n"), ("big", &big)]);
    let out = ok(env.run(&["build", "-q", "-t", "src:1", ctx.to_str().unwrap()]));
    let digest = stdout(&out).split_whitespace().nth(1).unwrap().to_string();
    let store = env.store();
    let image = store.resolve("src:1").unwrap();
    let mut files = HashMap::new();
    let manifest = store.read_blob(image.digest()).unwrap();
    let mt = "application/vnd.oci.image.manifest.v1+json".to_string();
    files.insert("/v2/demo/app/manifests/1".to_string(), (mt.clone(), manifest.clone()));
    files.insert(format!("/v2/demo/app/manifests/{digest}"), (mt, manifest));
    let mut blobs = vec![image.manifest.config().digest().clone()];
    blobs.extend(image.manifest.layers().iter().map(|l| l.digest().clone()));
    for b in blobs {
        files.insert(
            format!("/v2/demo/app/blobs/{b}"),
            ("application/octet-stream".into(), store.read_blob(&b).unwrap()),
        );
    }
    (digest, files)
}

fn serve(files: &HashMap<String, (String, Vec<u8>)>, req: &Request) -> Response {
    match files.get(&req.path) {
        Some((ct, body)) => {
            let mut r = Response::new(200, body.clone());
            r.headers.push(("Content-Type".into(), ct.clone()));
            if let Some(range) = req.headers.get("range").and_then(|r| r.strip_prefix("bytes=")) {
                let from: usize = range.trim_end_matches('-').parse().unwrap();
                r = Response::new(206, body[from..].to_vec());
                r.headers.push(("Content-Range".into(), format!("bytes {from}-{}/{}", body.len() - 1, body.len())));
            }
            r
        }
        None => Response::new(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
    }
}

#[test]
fn pull_from_a_fake_registry_with_the_bearer_token_flow() {
    let src = Env::new();
    let (digest, files) = served_image(&src);
    let fake = Fake::start(move |req, port| {
        if req.path.starts_with("/token") {
            return Response::new(200, r#"{"token":"let-me-in"}"#);
        }
        if req.headers.get("authorization").map(String::as_str) != Some("Bearer let-me-in") {
            let mut r = Response::new(401, "");
            r.headers.push((
                "WWW-Authenticate".into(),
                format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake""#),
            ));
            return r;
        }
        serve(&files, req)
    });
    let env = Env::new();
    let out = ok(env.run(&["pull", &format!("{}:1", fake.reference("demo/app"))]));
    assert_eq!(stdout(&out).trim(), format!("{}:1 {digest}", fake.reference("demo/app")));
    assert!(fake.saw(|r| r.path.starts_with("/token?") && r.path.contains("scope=repository%3Ademo%2Fapp%3Apull")));
    let image = env.store().resolve(&format!("{}:1", fake.reference("demo/app"))).unwrap();
    assert_eq!(image.digest().to_string(), digest);
}

#[test]
fn registry_401_404_and_500_are_told_apart() {
    let fake = Fake::start(|req, port| {
        if req.path.starts_with("/token") {
            return Response::new(200, r#"{"token":"useless"}"#);
        }
        if req.path.contains("/private/") {
            let mut r = Response::new(401, "");
            r.headers.push(("WWW-Authenticate".into(), format!(r#"Bearer realm="http://127.0.0.1:{port}/token""#)));
            return r;
        }
        if req.path.contains("/broken/") {
            return Response::new(500, "database on fire");
        }
        Response::new(404, "")
    });
    let env = Env::new();
    fails_with(env.run(&["pull", &fake.reference("private/x")]), &["refused access", "401", "anonymously"]);
    fails_with(env.run(&["pull", &fake.reference("missing/x:v9")]), &["manifest missing/x:v9 not found", "(404)"]);
    fails_with(env.run(&["pull", &fake.reference("broken/x")]), &["HTTP 500", "database on fire"]);
    fails_with(env.run(&["pull", "Bad:Ref!"]), &["bad image reference"]);
}

#[test]
fn a_truncated_download_fails_clearly_and_the_next_pull_resumes_it() {
    let src = Env::new();
    let (digest, files) = served_image(&src);
    let first = Arc::new(Mutex::new(true));
    let files2 = files.clone();
    let flag = first.clone();
    let fake = Fake::start(move |req, _| {
        let mut r = serve(&files2, req);
        let is_layer = req.path.contains("/blobs/") && r.body.len() > 10_000;
        if is_layer && *flag.lock().unwrap() {
            *flag.lock().unwrap() = false;
            r.truncate = Some(r.body.len() / 2);
        }
        r
    });
    let env = Env::new();
    let reference = format!("{}:1", fake.reference("demo/app"));
    let err = fails_with(env.run(&["pull", &reference]), &["stopped after", "run the pull again to resume"]);
    assert!(env.store().resolve(&reference).is_err(), "nothing is tagged after a failed pull: {err}");
    let out = ok(env.run(&["pull", &reference]));
    assert!(stderr(&out).contains("(resumed)"), "{}", stderr(&out));
    assert!(fake.saw(|r| r.headers.get("range").is_some_and(|v| v.starts_with("bytes="))));
    assert_eq!(env.store().resolve(&reference).unwrap().digest().to_string(), digest);
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let src = Env::new();
    let (_, files) = served_image(&src);
    let fake = Fake::start(move |req, _| {
        let mut r = serve(&files, req);
        if req.path.contains("/blobs/") && r.body.len() > 10_000 {
            let last = r.body.len() - 1;
            r.body[last] ^= 0xff;
        }
        r
    });
    let env = Env::new();
    fails_with(env.run(&["pull", &format!("{}:1", fake.reference("demo/app"))]), &["is corrupted"]);
    let leftovers: Vec<_> = std::fs::read_dir(env.state().join("images/blobs/sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "a corrupted download is deleted");
}

#[test]
fn pull_from_a_real_registry_gives_back_the_same_digest() {
    use labkit::testing::{have_program, prerequisite};
    let tools = have_program("docker-registry") && have_program("skopeo");
    if !prerequisite("pull", "docker-registry and skopeo (apt-get install docker-registry skopeo)", tools) {
        return;
    }
    let env = Env::new();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM scratch\nCOPY f /f\nENTRYPOINT [\"/f\"]\n"), ("f", "payload")]);
    let built = stdout(&ok(env.run(&["build", "-q", "-t", "course/app:1", ctx.to_str().unwrap()])));
    let digest = built.split_whitespace().nth(1).unwrap().to_string();

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let storage = env.dir.path().join("registry");
    let config = env.dir.path().join("registry.yml");
    std::fs::write(
        &config,
        format!("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n", storage.display()),
    )
    .unwrap();
    let mut registry = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        if let Ok(Some(status)) = registry.try_wait() {
            panic!("docker-registry exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _stop = Stop(registry);
    let layout = env.state().join("images");
    let push = std::process::Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:course/app:1", layout.display()))
        .arg(format!("docker://127.0.0.1:{port}/course/app:1"))
        .output()
        .unwrap();
    assert!(push.status.success(), "skopeo push: {}", String::from_utf8_lossy(&push.stderr));
    let other = Env::new();
    let reference = format!("localhost:{port}/course/app:1");
    let out = ok(other.run(&["pull", &reference]));
    assert_eq!(stdout(&out).trim(), format!("{reference} {digest}"));
}
