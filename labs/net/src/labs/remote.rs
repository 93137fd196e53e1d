//! `net-remote`: Docker's "remote" network driver is a plugin outside the engine; today that
//! interface is CNI. We run the real reference plugins (bridge, host-local, portmap, loopback)
//! by the CNI protocol ourselves and read back what they did.
//!
//! Hermetic: the plugins run inside `labctl-cni` (the "host"); the container is `labctl-cni-c1`.
//! The IPAM state and the result cache live under labctl's run dir, for this lab's network only.

use crate::cni::{self, Attachment, CniError, ConfList, PortMapping, Runtime};
use crate::labs::bridge::make_netns;
use crate::labs::{exchange, interfaces_in, listen_in, start_sleeper};
use crate::netlink::Netlink;
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "net-remote",
    source: file!(),
    steps: &[
        ("plugins", plugins),
        ("add", add),
        ("created", created),
        ("reach", reach),
        ("check", check_step),
        ("del", del),
    ],
    check,
};

const HOST: &str = "labctl-cni";
const C1: &str = "labctl-cni-c1";
const NETWORK: &str = "labctl-remote";
const BRIDGE: &str = "lccni1";
const SUBNET: &str = "10.216.0.0/24";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 216, 0, 1);
const PLUGINS: [&str; 4] = ["bridge", "host-local", "portmap", "loopback"];

#[derive(Default)]
pub struct State {
    c1_pid: Option<i32>,
    /// The container's address from the ADD result.
    ip: Option<Ipv4Addr>,
    /// The host-side veth the bridge plugin named.
    host_veth: Option<String>,
}

fn ns(name: &str) -> PathBuf {
    crate::netns::path(name)
}

fn runtime() -> Runtime {
    Runtime::new(Some(ns(HOST)))
}

/// This lab's IPAM directory for its network (host-local keeps one per network).
fn ipam_dir() -> PathBuf {
    cni::ipam_dir().join(NETWORK)
}

fn conflist() -> ConfList {
    ConfList::labctl(NETWORK, BRIDGE, SUBNET, &cni::ipam_dir())
}

fn attachment() -> Attachment {
    Attachment {
        container_id: C1.to_string(),
        netns: ns(C1),
        ifname: "eth0".into(),
        port_mappings: vec![PortMapping { host_port: 8080, container_port: 80, protocol: "tcp".into() }],
    }
}

/// The nat table of the host namespace as iptables-save prints it (the plugins drive the
/// iptables binary, so its own listing is the faithful view), comments and counters dropped.
fn nat_rules() -> anyhow::Result<Vec<String>> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", HOST, "iptables-save", "-t", "nat"])
        .output()
        .context("run iptables-save in labctl-cni")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('-') || (l.starts_with(':') && l.contains("CNI")))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        .collect())
}

/// host-local's files for this network, sorted, with their contents on one line.
fn ipam_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(ipam_dir())
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let content = std::fs::read_to_string(e.path()).unwrap_or_default();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        content.split_whitespace().collect::<Vec<_>>().join(" "),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn ipam_table(title: labkit::Text) -> Observation {
    Observation::Table {
        title,
        columns: ["FILE", "CONTENT"].iter().map(|s| s.to_string()).collect(),
        rows: ipam_files().into_iter().map(|(f, c)| vec![Fact::text(f), Fact::text(c)]).collect(),
    }
}

fn plugins(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    make_netns(ctx, HOST)?;
    make_netns(ctx, C1)?;
    ctx.register(Undo::RemoveDir { path: ipam_dir() });
    ctx.register(Undo::RemoveDir { path: cni::results_dir().join(NETWORK) });
    let rt = runtime();
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut speaks = true;
    for kind in PLUGINS {
        match rt.find(kind) {
            Ok(path) => {
                let v = rt.version(kind)?;
                speaks &= v.supported_versions.iter().any(|s| s == cni::CNI_VERSION);
                rows.push(vec![
                    Fact::text(kind),
                    Fact::text(path.display().to_string()),
                    Fact::text(v.supported_versions.join(" ")),
                ]);
            }
            Err(e) => missing.push(e.to_string()),
        }
    }
    if let Some(first) = missing.first() {
        anyhow::bail!("{first}");
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "The plugins, and what CNI_COMMAND=VERSION answered:",
            "插件，以及它们对 CNI_COMMAND=VERSION 的回答："
        ),
        columns: vec![
            ctx.t(&tr!("PLUGIN", "插件")),
            ctx.t(&tr!("BINARY", "可执行文件")),
            ctx.t(&tr!("SUPPORTED VERSIONS", "支持的版本")),
        ],
        rows,
    });
    ctx.expect(
        tr!("every plugin speaks CNI 1.0.0", "每个插件都支持 CNI 1.0.0"),
        ctx.t(&tr!("1.0.0 in each list", "每个列表里都有 1.0.0")),
        ctx.t(&if speaks {
            tr!("1.0.0 in each list", "每个列表里都有 1.0.0")
        } else {
            tr!("missing somewhere", "有的列表里没有")
        }),
        speaks,
        tr!("containernetworking-plugins 1.0 or later is needed", "需要 containernetworking-plugins 1.0 或更新版本"),
    );
    Ok(())
}

fn add(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    state.c1_pid = Some(start_sleeper(ctx, &ns(C1))?);
    let list = conflist();
    ctx.observe(Observation::excerpt(
        Fact::text(ctx.t(&tr!(
            format!("the network configuration list ({NETWORK}.conflist)"),
            format!("网络配置列表（{NETWORK}.conflist）")
        ))),
        &serde_json::to_string_pretty(&list.to_json())?,
    ));
    let result = runtime().add(&list, &attachment())?;
    let rows = result
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, iface)| {
            // The host veth's name is the plugin's random choice.
            let name = if iface.sandbox.is_some() || iface.name == BRIDGE {
                Fact::text(&iface.name)
            } else {
                Fact::Measured(iface.name.clone())
            };
            let ips: Vec<String> =
                result.ips.iter().filter(|ip| ip.interface == Some(i)).map(|ip| ip.address.to_string()).collect();
            vec![
                Fact::Number(i as i64),
                name,
                Fact::Mac(iface.mac.clone().unwrap_or_default()),
                Fact::text(iface.sandbox.as_ref().map(|_| "labctl-cni-c1").unwrap_or("-")),
                Fact::text(if ips.is_empty() { "-".to_string() } else { ips.join(" ") }),
            ]
        })
        .collect();
    ctx.observe(Observation::Table {
        title: tr!("The ADD result, parsed (interfaces):", "解析后的 ADD 结果（interfaces）："),
        // zh: the result's own field names (sandbox, ips), as the JSON has them.
        columns: vec![
            "#".into(),
            "NAME".into(),
            "MAC".into(),
            ctx.t(&tr!("SANDBOX", "sandbox")),
            ctx.t(&tr!("IPS", "ips")),
        ],
        rows,
    });
    let (iface, ip) = result.container_address().context("the result names no address inside the container")?;
    ctx.observe(Observation::Values {
        title: tr!("The ADD result, parsed (ips, routes):", "解析后的 ADD 结果（ips、routes）："),
        values: vec![
            ("address".into(), Fact::text(ip.address.to_string())),
            ("gateway".into(), Fact::text(ip.gateway.map(|g| g.to_string()).unwrap_or_else(|| "-".into()))),
            (
                "routes".into(),
                Fact::text(result.routes.iter().map(|r| r.dst.to_string()).collect::<Vec<_>>().join(" ")),
            ),
        ],
    });
    state.ip = match ip.address.ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    };
    state.host_veth =
        result.interfaces.iter().find(|i| i.sandbox.is_none() && i.name != BRIDGE).map(|i| i.name.clone());
    ctx.set("address", Fact::text(ip.address.to_string()));
    ctx.expect_eq(
        tr!(
            "the plugins put eth0 with an address of 10.216.0.0/24 in the container",
            "插件在容器里放了 eth0，地址属于 10.216.0.0/24"
        ),
        "eth0 10.216.0.2/24",
        format!("{} {}", iface.name, ip.address),
        tr!("host-local hands out the first free address after the gateway", "host-local 分配网关之后第一个空闲地址"),
    );
    ctx.expect_eq(
        tr!("the gateway is the bridge's address", "网关是网桥的地址"),
        GATEWAY.to_string(),
        ip.gateway.map(|g| g.to_string()).unwrap_or_else(|| ctx.word("none")),
        tr!("isGateway: true gives the bridge the first address", "isGateway: true 让网桥拿到第一个地址"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

fn created(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ip = state.ip.context("no address from ADD")?;
    let host_ifs = interfaces_in(&ns(HOST))?;
    let c1_ifs = interfaces_in(&ns(C1))?;
    let mut host_nl = Netlink::open_in(&ns(HOST))?;
    let links = host_nl.links()?;
    let bridge = links.iter().find(|l| l.name == BRIDGE).cloned();
    let veth_on_bridge = links
        .iter()
        .filter(|l| Some(&l.name) == state.host_veth.as_ref())
        .any(|l| l.master.is_some() && l.master == bridge.as_ref().map(|b| b.index));
    // The host veth's name is chosen by the plugin at random: shown as a measured value.
    let host_ifs = host_ifs
        .into_iter()
        .map(|mut i| {
            if i.name.starts_with("veth") {
                i.name = "veth…@if2".into();
            }
            i
        })
        .collect();
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-cni (the host):", "labctl-cni（主机）里的网卡："),
        interfaces: host_ifs,
    });
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-cni-c1 (the container):", "labctl-cni-c1（容器）里的网卡："),
        interfaces: c1_ifs.clone(),
    });
    let routes = Netlink::open_in(&ns(C1))?.routes()?;
    let default = routes.iter().find(|r| r.destination.is_none()).and_then(|r| r.gateway);
    ctx.observe(Observation::Values {
        title: tr!("Routes in labctl-cni-c1:", "labctl-cni-c1 的路由："),
        values: routes
            .iter()
            .map(|r| {
                (
                    r.destination.map(|(d, l)| format!("{d}/{l}")).unwrap_or_else(|| "default".into()),
                    Fact::text(r.gateway.map(|g| format!("via {g}")).unwrap_or_else(|| format!("scope {}", r.scope))),
                )
            })
            .collect(),
    });
    let rules = nat_rules()?;
    ctx.observe(Observation::Excerpt {
        path: Fact::text(
            ctx.t(&tr!("iptables-save -t nat (in labctl-cni)", "iptables-save -t nat（在 labctl-cni 里）")),
        ),
        lines: rules.iter().map(|l| vec![Fact::text(l)]).collect(),
    });
    ctx.observe(ipam_table(tr!(
        "host-local's files (/run/labctl/cni/networks/labctl-remote):",
        "host-local 的文件（/run/labctl/cni/networks/labctl-remote）："
    )));
    let lo_up = c1_ifs.iter().any(|i| i.name == "lo" && i.state == "UP");
    ctx.set("rules", Fact::Number(rules.iter().filter(|l| l.starts_with("-A")).count() as i64));
    ctx.expect(
        tr!(
            "the bridge plugin made lccni1 and put the host end of a veth on it",
            "bridge 插件创建了 lccni1，并把 veth 的主机端接到它上面"
        ),
        ctx.t(&tr!("lccni1 with one port", "lccni1，带一个端口")),
        ctx.t(&if veth_on_bridge {
            tr!("lccni1 with one port", "lccni1，带一个端口")
        } else {
            tr!("no port", "没有端口")
        }),
        veth_on_bridge,
        tr!("look at the ADD result's interfaces", "看看 ADD 结果里的 interfaces"),
    );
    ctx.expect_eq(
        tr!("the container's default route goes via the gateway", "容器的默认路由经由网关"),
        GATEWAY.to_string(),
        default.map(|g| g.to_string()).unwrap_or_else(|| ctx.word("none")),
        tr!(
            "host-local's routes: [{dst: 0.0.0.0/0}] with isGateway",
            "host-local 的 routes：[{dst: 0.0.0.0/0}]，加上 isGateway"
        ),
    );
    ctx.expect(
        tr!("the loopback plugin brought lo up", "loopback 插件启用了 lo"),
        "lo UP",
        if lo_up { "lo UP" } else { "lo DOWN" },
        lo_up,
        tr!("loopback must be in the chain", "链中必须包含 loopback"),
    );
    let dnat = format!("--to-destination {ip}:80");
    let has_dnat = rules.iter().any(|l| l.contains(&dnat));
    let has_masq = rules.iter().any(|l| l.contains(&format!("-s {ip}/32")));
    ctx.expect(
        tr!(
            "portmap wrote a DNAT for 8080 → :80 and bridge a masquerade for the container",
            "portmap 写了 8080 → :80 的 DNAT，bridge 为容器写了 masquerade"
        ),
        ctx.t(&tr!("both rules", "两条规则都在")),
        ctx.t(&if has_dnat && has_masq { tr!("both rules", "两条规则都在") } else { tr!("missing", "缺失") }),
        has_dnat && has_masq,
        tr!("ipMasq: true and the portMappings capability", "ipMasq: true 以及 portMappings capability"),
    );
    let leased = ipam_files().iter().any(|(f, c)| f == &ip.to_string() && c.starts_with(C1));
    ctx.expect(
        tr!(
            "host-local recorded the lease: a file named after the address",
            "host-local 记录了租约：一个以地址命名的文件"
        ),
        ctx.t(&tr!(format!("{ip} holding {C1} eth0"), format!("{ip}，内容为 {C1} eth0"))),
        ctx.t(&if leased {
            tr!(format!("{ip} holding {C1} eth0"), format!("{ip}，内容为 {C1} eth0"))
        } else {
            tr!("no such file", "没有这个文件")
        }),
        leased,
        tr!("dataDir must be labctl's own", "dataDir 必须是 labctl 自己的目录"),
    );
    Ok(())
}

fn reach(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ip = state.ip.context("no address from ADD")?;
    // A tiny server on port 80 in the container; the host connects to its own port 8080.
    let listener = listen_in(&ns(C1), "0.0.0.0:80".parse().unwrap())?;
    let to = SocketAddr::new(IpAddr::V4(GATEWAY), 8080);
    let result = exchange(listener, &ns(HOST), to, "GET / HTTP/1.0\r\n\r\n", move |peer| {
        let body = format!("hello from {ip}, you are {}\n", peer.ip());
        format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    });
    let (status, body) = match &result {
        Ok(x) => (
            x.reply.lines().next().unwrap_or_default().to_string(),
            x.reply.split("\r\n\r\n").nth(1).unwrap_or_default().trim().to_string(),
        ),
        Err(e) => (super::bridge::failed(ctx, e.root_cause()), String::new()),
    };
    ctx.observe(Observation::Values {
        title: tr!("curl http://10.216.0.1:8080/ from labctl-cni:", "在 labctl-cni 里 curl http://10.216.0.1:8080/："),
        // The status line and the body are HTTP as sent: they stay as they are.
        values: vec![
            (ctx.t(&tr!("status", "状态行")), Fact::text(status.clone())),
            (ctx.t(&tr!("body", "正文")), Fact::text(body)),
        ],
    });
    ctx.expect_eq(
        tr!("the host's port 8080 answers from the container's port 80", "主机的 8080 端口由容器的 80 端口应答"),
        "HTTP/1.0 200 OK",
        status,
        tr!(
            "portmap's DNAT in OUTPUT handles connections made on the host",
            "portmap 在 OUTPUT 里的 DNAT 处理主机自己发起的连接"
        ),
    );
    Ok(())
}

fn check_step(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let rt = runtime();
    let list = conflist();
    let first = rt.check_each(&list, &attachment())?;
    // Break what the bridge plugin set up: the container's default route.
    Netlink::open_in(&ns(C1))?.delete_default_route()?;
    let second = rt.check_each(&list, &attachment())?;
    // A plugin's error (code and msg) is its own words and stays.
    let show = |r: &Result<(), CniError>| match r {
        Ok(()) => ctx.t(&tr!("ok (exit 0)", "通过（退出码 0）")),
        Err(CniError::Plugin { code, msg, .. }) => format!("code {code}: {msg}"),
        Err(e) => e.to_string(),
    };
    // Only the bridge plugin's verdicts are the lesson; the others' depend on the plugin
    // version this machine has (portmap 1.1.1's CHECK also looks for IPv6 chains).
    let rows = first
        .iter()
        .zip(&second)
        .map(|((kind, a), (_, b))| {
            let fact =
                |r: &Result<(), CniError>| if kind == "bridge" { Fact::text(show(r)) } else { Fact::Host(show(r)) };
            vec![Fact::text(kind), fact(a), fact(b)]
        })
        .collect();
    ctx.observe(Observation::Table {
        title: tr!(
            "CNI_COMMAND=CHECK, plugin by plugin, with the cached result as prevResult:",
            "逐个插件执行 CNI_COMMAND=CHECK，以缓存的结果作为 prevResult："
        ),
        columns: vec![
            ctx.t(&tr!("PLUGIN", "插件")),
            ctx.t(&tr!("AS SET UP", "刚配置好时")),
            ctx.t(&tr!("AFTER ip route del default", "ip route del default 之后")),
        ],
        rows,
    });
    let verdict = |v: &[(String, Result<(), CniError>)]| {
        v.iter().find(|(k, _)| k == "bridge").map(|(_, r)| match r {
            Ok(()) => Ok(()),
            Err(CniError::Plugin { code, .. }) => Err(*code),
            Err(_) => Err(0),
        })
    };
    let (before, after) = (verdict(&first), verdict(&second));
    ctx.expect(
        tr!(
            "bridge's CHECK passes while the container is as ADD left it",
            "容器保持 ADD 之后的样子时 bridge 的 CHECK 通过"
        ),
        ctx.t(&tr!("ok", "通过")),
        ctx.t(&if before == Some(Ok(())) { tr!("ok", "通过") } else { tr!("an error", "出错") }),
        before == Some(Ok(())),
        tr!("every object in prevResult must be in place", "prevResult 里的每个对象都必须还在"),
    );
    // The plugin's own answer (a CNI error object), not an errno: a check on the code it returned.
    ctx.expect(
        tr!(
            "bridge's CHECK fails with a CNI error once the route is gone",
            "路由被删掉之后 bridge 的 CHECK 以 CNI 错误失败"
        ),
        ctx.t(&tr!("a CNI error code", "一个 CNI 错误码")),
        ctx.t(&match after {
            Some(Err(code)) => tr!(format!("CNI error code {code}"), format!("CNI 错误码 {code}")),
            Some(Ok(())) => tr!("CHECK passed", "CHECK 通过了"),
            None => tr!("CHECK did not run", "CHECK 没有运行"),
        }),
        matches!(after, Some(Err(code)) if code > 0),
        tr!(
            "the bridge plugin's CHECK compares the routes with prevResult",
            "bridge 插件的 CHECK 会把路由和 prevResult 对比"
        ),
    );
    ctx.set(
        "code",
        Fact::Number(match after {
            Some(Err(code)) => i64::from(code),
            _ => -1,
        }),
    );
    Ok(())
}

fn del(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ip = state.ip.context("no address from ADD")?;
    runtime().del(&conflist(), &attachment())?;
    let c1_ifs = interfaces_in(&ns(C1))?;
    let names: Vec<String> = c1_ifs.iter().map(|i| format!("{} {}", i.name, i.state)).collect();
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-cni-c1 after DEL:", "DEL 之后 labctl-cni-c1 里的网卡："),
        interfaces: c1_ifs,
    });
    let host_ifs = interfaces_in(&ns(HOST))?;
    let veths = host_ifs.iter().filter(|i| i.name.starts_with("veth")).count();
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-cni after DEL:", "DEL 之后 labctl-cni 里的网卡："),
        interfaces: host_ifs,
    });
    let rules = nat_rules()?;
    ctx.observe(Observation::Excerpt {
        path: Fact::text(ctx.t(&tr!(
            "iptables-save -t nat (in labctl-cni) after DEL",
            "DEL 之后的 iptables-save -t nat（在 labctl-cni 里）"
        ))),
        lines: rules.iter().map(|l| vec![Fact::text(l)]).collect(),
    });
    ctx.observe(ipam_table(tr!("host-local's files after DEL:", "DEL 之后 host-local 的文件：")));
    let cache = cni::results_dir().join(NETWORK).join(format!("{C1}-eth0.json"));
    ctx.expect_eq(
        tr!(
            "the container is back to lo only, and loopback DEL set it down",
            "容器里又只剩 lo，loopback 的 DEL 把它设为 DOWN"
        ),
        "lo DOWN",
        names.join(", "),
        tr!("bridge DEL removes eth0 (and its veth peer with it)", "bridge 的 DEL 删除 eth0（它的 veth 对端随之消失）"),
    );
    ctx.expect_eq(
        tr!("no veth is left on the host", "主机上没有残留 veth"),
        Fact::Number(0),
        Fact::Number(veths as i64),
        tr!("deleting eth0 in the container takes the host end too", "删除容器里的 eth0 会连带删除主机端"),
    );
    let mentions = rules.iter().filter(|l| l.contains(&ip.to_string())).count();
    ctx.expect_eq(
        tr!("no NAT rule mentions the container's address any more", "不再有任何 NAT 规则提到容器的地址"),
        Fact::Number(0),
        Fact::Number(mentions as i64),
        tr!(
            "DEL must get the same portMappings as ADD, or portmap skips its cleanup",
            "DEL 必须拿到与 ADD 相同的 portMappings，否则 portmap 会跳过清理"
        ),
    );
    let leased = ipam_files().iter().any(|(f, _)| f == &ip.to_string());
    ctx.expect(
        tr!("the lease is released", "租约已释放"),
        ctx.t(&tr!("no file for the address", "没有以这个地址命名的文件")),
        ctx.t(&if leased {
            tr!("still leased", "仍被租用")
        } else {
            tr!("no file for the address", "没有以这个地址命名的文件")
        }),
        !leased,
        tr!(
            "host-local DEL removes the file by container id and ifname",
            "host-local 的 DEL 按容器 id 和 ifname 删除文件"
        ),
    );
    ctx.expect(
        tr!("the cached result is gone", "缓存的结果已删除"),
        ctx.t(&tr!("no cache file", "没有缓存文件")),
        ctx.t(&if cache.exists() {
            tr!("cache file left", "缓存文件还在")
        } else {
            tr!("no cache file", "没有缓存文件")
        }),
        !cache.exists(),
        tr!("the runtime removes its cache after DEL", "运行时在 DEL 之后删除缓存"),
    );
    let bridge_left = Netlink::open_in(&ns(HOST))?.link(BRIDGE)?.is_some();
    ctx.expect(
        tr!(
            "the bridge stays: it belongs to the network, not to the container",
            "网桥保留：它属于网络，而不是某个容器"
        ),
        ctx.t(&tr!("lccni1 present", "lccni1 还在")),
        if bridge_left { ctx.t(&tr!("lccni1 present", "lccni1 还在")) } else { ctx.word("gone") },
        bridge_left,
        tr!("the bridge plugin never deletes its bridge", "bridge 插件从不删除它的网桥"),
    );
    Ok(())
}

/// The challenge: the learner attaches `labctl-web` to labctl's CNI network with the tool
/// (`labctl net cni add --netns labctl-web -p 8080:80`); we verify with CHECK and the kernel.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !labkit::sys::is_root() {
        anyhow::bail!("labctl check net-remote needs root: try sudo labctl check net-remote");
    }
    let netns = crate::netns::path("labctl-web");
    let list = ConfList::labctl(cni::DEFAULT_NETWORK, "lccni0", "10.215.0.0/24", &cni::ipam_dir());
    let att = Attachment {
        container_id: "labctl-web".into(),
        netns: netns.clone(),
        ifname: "eth0".into(),
        port_mappings: vec![],
    };
    let rt = Runtime::new(None);
    let cached = rt.cached(&list, &att);
    ctx.expect(
        tr!("labctl-web was added to the network labctl-cni", "labctl-web 已加入网络 labctl-cni"),
        ctx.t(&tr!("a cached ADD result", "一份缓存的 ADD 结果")),
        if cached.is_ok() {
            ctx.t(&tr!("a cached ADD result", "一份缓存的 ADD 结果"))
        } else {
            ctx.word("none")
        },
        cached.is_ok(),
        tr!(
            "sudo ip netns add labctl-web; sudo labctl net cni add --netns labctl-web -p 8080:80",
            "sudo ip netns add labctl-web; sudo labctl net cni add --netns labctl-web -p 8080:80"
        ),
    );
    let Ok(cached) = cached else { return Ok(()) };
    let mapped = cached.port_mappings.iter().any(|p| p.host_port == 8080 && p.container_port == 80);
    ctx.expect(
        tr!("host port 8080 maps to its port 80", "主机 8080 端口映射到它的 80 端口"),
        "8080 → 80",
        if mapped { "8080 → 80".to_string() } else { ctx.t(&tr!("no such mapping", "没有这个映射")) },
        mapped,
        tr!("add it with -p 8080:80 (del first)", "加上 -p 8080:80（先 del）"),
    );
    // Run the plugins where ADD ran them (--host-netns), as a runtime would.
    let rt = Runtime::new(cached.host_netns.clone());
    let verdicts = rt.check_each(&list, &att)?;
    let bridge = verdicts.into_iter().find(|(k, _)| k == "bridge").map(|(_, r)| r);
    let ok = matches!(bridge, Some(Ok(())));
    ctx.expect(
        tr!("the bridge plugin's CHECK passes", "bridge 插件的 CHECK 通过"),
        ctx.t(&tr!("ok", "通过")),
        match &bridge {
            Some(Ok(())) => ctx.t(&tr!("ok", "通过")),
            Some(Err(e)) => e.to_string(),
            None => ctx.t(&tr!("no bridge plugin", "没有 bridge 插件")),
        },
        ok,
        tr!(
            "del and add again: sudo labctl net cni del --netns labctl-web",
            "先 del 再 add：sudo labctl net cni del --netns labctl-web"
        ),
    );
    Ok(())
}
