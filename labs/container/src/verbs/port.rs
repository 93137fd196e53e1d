//! `port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports of a running container, as
//! docker prints them (`80/tcp -> 0.0.0.0:8080`).

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container, by name or id
    pub container: String,
    /// Only this container port (80 or 80/tcp)
    pub private_port: Option<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let record = engine.find(&args.container)?;
    let running = matches!(engine.live(&record), Live::Running | Live::Paused);
    let maps = if running { record.network.ports.clone() } else { Vec::new() };
    let Some(want) = &args.private_port else {
        for m in &maps {
            println!("{}/{} -> 0.0.0.0:{}", m.container, m.proto, m.host);
        }
        return Ok(0);
    };
    let (port, proto) = want.split_once('/').unwrap_or((want, "tcp"));
    let port: u16 = port
        .parse()
        .map_err(|_| Error::Usage(format!("port {want:?}: not a port; give a container port such as 80 or 53/udp")))?;
    let found: Vec<_> = maps.iter().filter(|m| m.container == port && m.proto.to_string() == proto).collect();
    if found.is_empty() {
        return Err(Error::state(
            record.bare_name(),
            format!("no public port '{port}/{proto}' published (see `labctl container port {}`)", record.bare_name()),
        ));
    }
    for m in found {
        println!("0.0.0.0:{}", m.host);
    }
    Ok(0)
}
