//! `overlay`: the course notes' OverlayFS experiment, then copy-up, whiteouts, opaque directories,
//! stacked image layers, the workdir, and the upper dir as an image layer.

use crate::{diff, write_layer, ChangeKind, LayerOptions, Overlay};
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Text, Undo, Walkthrough};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "overlay",
    source: file!(),
    steps: &[
        ("seed-experiment", seed_experiment),
        ("mount-line", mount_line),
        ("copy-up", copy_up),
        ("whiteout", whiteout),
        ("opaque-dir", opaque_dir),
        ("layers", layers),
        ("workdir", workdir),
        ("upper-is-a-layer", upper_is_a_layer),
        ("cow-and-rootfs", cow_and_rootfs),
    ],
    check,
};

/// What the steps share: the lab's directory (everything lives under it).
#[derive(Default)]
pub struct State {
    root: Option<PathBuf>,
}

impl State {
    fn root(&self) -> anyhow::Result<&Path> {
        self.root.as_deref().context("step seed-experiment did not run")
    }
}

const SEED_FILES: [(&str, &str); 4] = [
    ("lower/in_lower.txt", "from lower"),
    ("upper/in_upper.txt", "from upper"),
    ("lower/in_both.txt", "from lower"),
    ("upper/in_both.txt", "from upper"),
];

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).map(|s| s.trim_end().replace('\n', " / ")).unwrap_or_else(|_| "-".into())
}

fn mkdirs(root: &Path, dirs: &[&str]) -> anyhow::Result<()> {
    for d in dirs {
        std::fs::create_dir_all(root.join(d)).with_context(|| format!("mkdir {}", root.join(d).display()))?;
    }
    Ok(())
}

/// Mounts after registering the unmount.
fn mount(ctx: &mut Ctx, overlay: &Overlay, target: &Path) -> anyhow::Result<()> {
    ctx.register(Undo::Unmount { path: target.to_path_buf() });
    for warning in overlay.mount(target)? {
        ctx.note(Text::new(warning.to_string(), warning.to_string()));
    }
    Ok(())
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// A text in which the lab's directory is a typed temporary path.
fn with_temp(text: &str, root: &Path) -> Vec<Fact> {
    let root = root.display().to_string();
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&root) {
        if i > 0 {
            out.push(Fact::text(&rest[..i]));
        }
        out.push(Fact::TempPath(root.clone()));
        rest = &rest[i + root.len()..];
    }
    if !rest.is_empty() {
        out.push(Fact::text(rest));
    }
    out
}

/// The lab's directory under the run dir: a fixed name, so transcripts are the same every run.
const LAB_DIR: &str = "overlay-lab";

/// Takes the lab directory: a leftover without mounts (a killed run) is removed; one with
/// live mounts belongs to a run in progress (or a killed one `labctl clean` should finish).
fn claim(root: &Path) -> anyhow::Result<()> {
    if !exists(root) {
        return Ok(());
    }
    let prefix = format!("{}/", root.display());
    if labkit::mountinfo::of_self().iter().any(|m| m.mount_point.starts_with(&prefix)) {
        anyhow::bail!(
            "{} has overlays mounted: another `labctl run overlay` is running, or one was killed — finish it with `sudo labctl clean`",
            root.display()
        );
    }
    std::fs::remove_dir_all(root).with_context(|| format!("removing the leftover {}", root.display()))
}

fn seed_experiment(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = labkit::paths::run_dir().join(LAB_DIR);
    claim(&root)?;
    ctx.register(Undo::RemoveDir { path: root.clone() });
    mkdirs(&root, &["lower", "upper", "work", "merged"])?;
    for (path, text) in SEED_FILES {
        write(&root.join(path), text)?;
    }
    let overlay = Overlay::new([root.join("lower")]).with_upper(root.join("upper"), root.join("work"));
    mount(ctx, &overlay, &root.join("merged"))?;
    state.root = Some(root.clone());
    // --explore: a shell in merged/ (ls, cat, and a look at lower/ and upper/ beside it).
    ctx.explore_dir(root.join("merged"));

    let mut rows = Vec::new();
    for name in names(&root.join("merged")) {
        let in_upper = exists(&root.join("upper").join(&name));
        let in_lower = exists(&root.join("lower").join(&name));
        let from = match (in_upper, in_lower) {
            (true, true) => ctx.t(&tr!("upper (hides lower)", "upper（遮住 lower）")),
            (true, false) => "upper".to_string(),
            _ => "lower".to_string(),
        };
        rows.push(vec![Fact::text(&name), Fact::text(read(&root.join("merged").join(&name))), Fact::text(from)]);
    }
    let count = rows.len();
    ctx.observe(Observation::Table {
        title: tr!("merged/ and the layer each file comes from:", "merged/ 里的文件以及它们来自哪一层："),
        columns: vec!["FILE".into(), "CONTENT".into(), ctx.t(&tr!("FROM", "来自"))],
        rows,
    });
    ctx.set("root", Fact::TempPath(root.display().to_string()));
    ctx.set("count", Fact::Number(count as i64));
    ctx.expect_eq(
        tr!("merged shows the union of both layers", "merged 显示两层的并集"),
        Fact::Number(3),
        Fact::Number(count as i64),
        tr!(
            "in_lower.txt, in_upper.txt and in_both.txt should all be visible",
            "in_lower.txt、in_upper.txt、in_both.txt 都应该可见"
        ),
    );
    ctx.expect_eq(
        tr!("in_both.txt comes from upper", "in_both.txt 来自 upper"),
        "from upper",
        read(&root.join("merged/in_both.txt")),
        tr!("the upper layer sits on top and wins", "upper 层在最上面，同名时它胜出"),
    );
    Ok(())
}

/// The top mount at `target` in /proc/self/mountinfo (the last line for it covers the others).
fn mountinfo_line(target: &Path) -> Option<labkit::mountinfo::Mount> {
    let target = target.display().to_string();
    labkit::mountinfo::read("/proc/self/mountinfo").ok()?.into_iter().rev().find(|m| m.mount_point == target)
}

/// rw/ro and the three layer options are the lesson; the rest are the kernel's defaults.
fn is_layer_option(option: &str) -> bool {
    option == "rw" || option == "ro" || ["lowerdir=", "upperdir=", "workdir="].iter().any(|p| option.starts_with(p))
}

fn mount_line(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.to_path_buf();
    let line = mountinfo_line(&root.join("merged")).context("the overlay is not in /proc/self/mountinfo")?;
    let mut segments = vec![
        Fact::Measured(line.id.clone()),
        Fact::text(" "),
        Fact::Measured(line.parent.clone()),
        Fact::text(" "),
        Fact::Measured(line.device.clone()),
        Fact::text(format!(" {} ", line.root)),
    ];
    segments.extend(with_temp(&line.mount_point, &root));
    segments.push(Fact::text(format!(" {}", line.options)));
    // Optional fields (shared:N, master:N) depend on how this machine set up propagation: one
    // fact, leading space included, so the line keeps its shape with or without them.
    segments.push(Fact::Host(line.optional.iter().map(|f| format!(" {f}")).collect()));
    segments.push(Fact::text(format!(" - {} {} ", line.fstype, line.source)));
    let (lesson, defaults): (Vec<&str>, Vec<&str>) = line.super_options.split(',').partition(|o| is_layer_option(o));
    for (n, option) in lesson.iter().enumerate() {
        if n > 0 {
            segments.push(Fact::text(","));
        }
        segments.extend(with_temp(option, &root));
    }
    // Kernel defaults (`uuid=on`, `index=off`, …) vary with the kernel version: one fact,
    // comma included, so the line keeps its shape whether there are any or not.
    let defaults_fact = Fact::Host(defaults.iter().map(|d| format!(",{d}")).collect());
    segments.push(defaults_fact);
    ctx.observe(Observation::Excerpt { path: Fact::text("/proc/self/mountinfo"), lines: vec![segments] });
    let mut options: Vec<Vec<Fact>> = lesson.iter().map(|o| with_temp(o, &root)).collect();
    options.push(vec![Fact::Host(if defaults.is_empty() {
        ctx.t(&tr!("(no other options)", "（没有其他选项）"))
    } else {
        defaults.join(",")
    })]);
    ctx.observe(Observation::Excerpt {
        path: Fact::text(tr!("the overlay's options, one per line", "overlay 的挂载选项，每行一个").get(ctx.lang())),
        lines: options,
    });
    ctx.set("fstype", Fact::text(&line.fstype));
    ctx.set("device", Fact::Measured(line.device.clone()));
    let lower = format!("lowerdir={}", root.join("lower").display());
    let has_lower = line.super_options.split(',').any(|o| o == lower);
    ctx.expect_eq(
        tr!("the filesystem type is overlay", "文件系统类型是 overlay"),
        "overlay",
        line.fstype.clone(),
        tr!("mount(2) was called with type \"overlay\"", "mount(2) 的类型参数应为 \"overlay\""),
    );
    ctx.expect(
        tr!("the kernel records lowerdir, upperdir and workdir", "内核记录了 lowerdir、upperdir 和 workdir"),
        "lowerdir=…/lower,upperdir=…/upper,workdir=…/work",
        Fact::text(
            if has_lower && line.super_options.contains("upperdir=") && line.super_options.contains("workdir=") {
                ctx.t(&tr!("all three", "三个都在"))
            } else {
                ctx.word("missing")
            },
        ),
        has_lower && line.super_options.contains("upperdir=") && line.super_options.contains("workdir="),
        tr!("the options are in the superblock options after ' - '", "这些选项位于 ' - ' 之后的超级块选项里"),
    );
    Ok(())
}

fn stat_row(ctx: &Ctx, root: &Path, rel: &str) -> Vec<Fact> {
    let path = root.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) => vec![Fact::text(rel), Fact::Number(m.len() as i64), Fact::Inode(m.ino()), Fact::text(read(&path))],
        Err(_) => {
            vec![Fact::text(rel), Fact::text("-"), Fact::text("-"), Fact::text(ctx.t(&tr!("(absent)", "（不存在）")))]
        }
    }
}

fn copy_up(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.to_path_buf();
    let before = exists(&root.join("upper/in_lower.txt"));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(root.join("merged/in_lower.txt"))
            .context("opening merged/in_lower.txt for writing")?;
        writeln!(f, "written through merged").context("writing merged/in_lower.txt")?;
    }
    let rows: Vec<Vec<Fact>> = ["lower/in_lower.txt", "upper/in_lower.txt", "merged/in_lower.txt"]
        .iter()
        .map(|r| stat_row(ctx, &root, r))
        .collect();
    ctx.observe(Observation::Table {
        title: tr!("in_lower.txt after writing to it through merged/:", "通过 merged/ 写入之后的 in_lower.txt："),
        columns: vec![ctx.t(&tr!("PATH", "路径")), ctx.t(&tr!("SIZE", "大小")), "INODE".into(), "CONTENT".into()],
        rows,
    });
    let ino = |r: &str| std::fs::metadata(root.join(r)).map(|m| m.ino()).unwrap_or(0);
    let (lower_ino, upper_ino, merged_ino) =
        (ino("lower/in_lower.txt"), ino("upper/in_lower.txt"), ino("merged/in_lower.txt"));
    ctx.set("lower_ino", Fact::Inode(lower_ino));
    ctx.set("upper_ino", Fact::Inode(upper_ino));
    ctx.set("merged_ino", Fact::Inode(merged_ino));
    let keeps = if merged_ino == lower_ino {
        tr!(
            "merged/ still reports the lower file's inode number, so the file keeps its identity for programs that watch inodes",
            "merged/ 报告的仍是 lower 文件的 inode 号，所以在盯着 inode 的程序看来，文件的身份没有变"
        )
    } else {
        tr!(
            "merged/ reports the upper copy's inode number: this kernel or filesystem does not keep the original one",
            "merged/ 报告的是 upper 副本的 inode 号：这个内核或文件系统没有保留原来的 inode 号"
        )
    };
    ctx.set("inode_story", Fact::text(ctx.t(&keeps)));
    ctx.expect(
        tr!("before the write, upper had no in_lower.txt", "写入之前 upper 里没有 in_lower.txt"),
        ctx.word("absent"),
        ctx.word(if before { "present" } else { "absent" }),
        !before,
        tr!(
            "the seed's upper holds only in_upper.txt and in_both.txt",
            "种子实验的 upper 里只有 in_upper.txt 和 in_both.txt"
        ),
    );
    ctx.expect_eq(
        tr!("the write copied the file up into upper", "写操作把文件复制到了 upper"),
        "from lower / written through merged",
        read(&root.join("upper/in_lower.txt")),
        tr!("overlayfs copies a lower file up on its first write", "overlayfs 会在第一次写 lower 文件时把它复制上来"),
    );
    ctx.expect_eq(
        tr!("the lower file is unchanged", "lower 里的文件没有变"),
        "from lower",
        read(&root.join("lower/in_lower.txt")),
        tr!("lower layers are never written", "lower 层永远不会被写入"),
    );
    ctx.expect(
        tr!("the copy is a new inode", "副本是一个新的 inode"),
        ctx.t(&tr!("upper inode ≠ lower inode", "upper 的 inode ≠ lower 的 inode")),
        Fact::Inode(upper_ino),
        upper_ino != lower_ino,
        tr!("copy-up creates a new file in upper", "copy-up 会在 upper 中创建新文件"),
    );
    Ok(())
}

/// The file's type in words, in the run's language.
fn kind_of(ctx: &Ctx, m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    ctx.t(&if ft.is_char_device() {
        tr!("character device", "字符设备")
    } else if ft.is_dir() {
        tr!("directory", "目录")
    } else if ft.is_symlink() {
        tr!("symbolic link", "符号链接")
    } else if ft.is_file() {
        tr!("regular file", "普通文件")
    } else {
        tr!("other", "其他")
    })
}

fn mode_string(m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    let t = if ft.is_char_device() {
        'c'
    } else if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else {
        '-'
    };
    let mode = m.mode();
    let bits: String = (0..9)
        .map(|i| {
            let on = mode & (0o400 >> i) != 0;
            match (on, i % 3) {
                (false, _) => '-',
                (true, 0) => 'r',
                (true, 1) => 'w',
                (true, _) => 'x',
            }
        })
        .collect();
    format!("{t}{bits}")
}

fn whiteout(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.to_path_buf();
    std::fs::remove_file(root.join("merged/in_lower.txt")).context("rm merged/in_lower.txt")?;
    let wh = root.join("upper/in_lower.txt");
    let m = std::fs::symlink_metadata(&wh).context("stat upper/in_lower.txt")?;
    let (major, minor) = (nix::sys::stat::major(m.rdev()), nix::sys::stat::minor(m.rdev()));
    ctx.observe(Observation::Values {
        title: tr!("stat upper/in_lower.txt:", "stat upper/in_lower.txt："),
        values: vec![
            (ctx.t(&tr!("type", "类型")), Fact::text(kind_of(ctx, &m))),
            ("mode".into(), Fact::text(mode_string(&m))),
            (ctx.t(&tr!("rdev (major, minor)", "rdev（major, minor）")), Fact::text(format!("{major}, {minor}"))),
            (ctx.t(&tr!("size", "大小")), Fact::Number(m.len() as i64)),
            ("inode".into(), Fact::Inode(m.ino())),
        ],
    });
    ctx.observe(Observation::Table {
        title: tr!("Who sees in_lower.txt now:", "现在谁能看到 in_lower.txt："),
        columns: vec!["DIRECTORY".into(), "ENTRIES".into()],
        rows: ["lower", "upper", "merged"]
            .iter()
            .map(|d| vec![Fact::text(format!("{d}/")), Fact::text(names(&root.join(d)).join("  "))])
            .collect(),
    });
    let is_wh = crate::is_whiteout(&wh, &m);
    ctx.expect(
        tr!("upper/in_lower.txt is a character device", "upper/in_lower.txt 是一个字符设备"),
        ctx.t(&tr!("character device", "字符设备")),
        kind_of(ctx, &m),
        m.file_type().is_char_device(),
        tr!("overlayfs records a deletion as a whiteout device", "overlayfs 用 whiteout 设备记录删除"),
    );
    ctx.expect_eq(
        tr!("its device number is 0/0 (a whiteout)", "它的设备号是 0/0（whiteout）"),
        "0, 0",
        format!("{major}, {minor}"),
        tr!("a whiteout is exactly a character device with rdev 0/0", "whiteout 恰好就是设备号为 0/0 的字符设备"),
    );
    ctx.expect(
        tr!("merged/ no longer shows in_lower.txt", "merged/ 不再显示 in_lower.txt"),
        ctx.word("absent"),
        ctx.word(if exists(&root.join("merged/in_lower.txt")) { "present" } else { "absent" }),
        is_wh && !exists(&root.join("merged/in_lower.txt")),
        tr!("the whiteout hides the lower file", "whiteout 会遮住 lower 中的文件"),
    );
    ctx.expect_eq(
        tr!("lower/in_lower.txt is still there, unchanged", "lower/in_lower.txt 仍在，且未改变"),
        "from lower",
        read(&root.join("lower/in_lower.txt")),
        tr!("deleting through merged never touches lower", "通过 merged 删除永远不会动到 lower"),
    );
    Ok(())
}

fn opaque_dir(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.join("opaque");
    mkdirs(&root, &["lower/dir", "upper", "work", "merged"])?;
    write(&root.join("lower/dir/a.txt"), "a from lower")?;
    write(&root.join("lower/dir/b.txt"), "b from lower")?;
    let overlay = Overlay::new([root.join("lower")]).with_upper(root.join("upper"), root.join("work"));
    mount(ctx, &overlay, &root.join("merged"))?;
    std::fs::remove_dir_all(root.join("merged/dir")).context("rm -r merged/dir")?;
    std::fs::create_dir(root.join("merged/dir")).context("mkdir merged/dir")?;
    write(&root.join("merged/dir/c.txt"), "c, new")?;

    let opaque = xattr::get(root.join("upper/dir"), crate::OPAQUE_XATTR)
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    ctx.observe(Observation::Values {
        title: tr!(
            "getfattr -n trusted.overlay.opaque opaque/upper/dir:",
            "getfattr -n trusted.overlay.opaque opaque/upper/dir："
        ),
        values: vec![(
            crate::OPAQUE_XATTR.into(),
            Fact::text(
                opaque.as_deref().map(|v| format!("\"{v}\"")).unwrap_or_else(|| ctx.t(&tr!("(not set)", "（未设置）"))),
            ),
        )],
    });
    ctx.observe(Observation::Table {
        title: tr!("dir/ in each layer:", "各层中的 dir/："),
        columns: vec!["DIRECTORY".into(), "ENTRIES".into()],
        rows: ["lower/dir", "upper/dir", "merged/dir"]
            .iter()
            .map(|d| vec![Fact::text(format!("{d}/")), Fact::text(names(&root.join(d)).join("  "))])
            .collect(),
    });
    ctx.expect_eq(
        tr!("upper/dir is marked opaque", "upper/dir 被标记为 opaque"),
        "\"y\"",
        opaque.map(|v| format!("\"{v}\"")).unwrap_or_else(|| ctx.t(&tr!("(not set)", "（未设置）"))),
        tr!(
            "the upper filesystem must support trusted.* xattrs (tmpfs, ext4, xfs do)",
            "upper 所在的文件系统必须支持 trusted.* xattr（tmpfs、ext4、xfs 都支持）"
        ),
    );
    ctx.expect_eq(
        tr!("merged/dir shows only the new file", "merged/dir 只显示新文件"),
        "c.txt",
        names(&root.join("merged/dir")).join("  "),
        tr!(
            "an opaque directory hides everything below it in lower layers",
            "opaque 目录会遮住 lower 各层中它下面的全部内容"
        ),
    );
    ctx.expect_eq(
        tr!("lower/dir still holds a.txt and b.txt", "lower/dir 里仍然有 a.txt 和 b.txt"),
        "a.txt  b.txt",
        names(&root.join("lower/dir")).join("  "),
        tr!("lower layers are never written", "lower 层永远不会被写入"),
    );
    Ok(())
}

fn layers(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.join("image");
    mkdirs(&root, &["l1", "l2", "l3", "c1/upper", "c1/work", "c1/merged", "c2/upper", "c2/work", "c2/merged"])?;
    write(&root.join("l1/base.txt"), "from l1")?;
    write(&root.join("l1/config"), "from l1")?;
    write(&root.join("l2/config"), "from l2")?;
    write(&root.join("l2/app.txt"), "from l2")?;
    write(&root.join("l3/config"), "from l3")?;
    let lowers = [root.join("l3"), root.join("l2"), root.join("l1")];
    for c in ["c1", "c2"] {
        let overlay = Overlay::new(lowers.clone()).with_upper(root.join(c).join("upper"), root.join(c).join("work"));
        mount(ctx, &overlay, &root.join(c).join("merged"))?;
    }
    write(&root.join("c1/merged/config"), "changed in c1")?;

    let files = ["app.txt", "base.txt", "config"];
    let mut rows = Vec::new();
    for f in files {
        let mut row = vec![Fact::text(f)];
        for d in ["l3", "l2", "l1", "c1/merged", "c2/merged"] {
            row.push(Fact::text(read(&root.join(d).join(f))));
        }
        rows.push(row);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "lowerdir=l3:l2:l1 for two containers; c1 then wrote config:",
            "两个容器都用 lowerdir=l3:l2:l1；随后 c1 写了 config："
        ),
        columns: ["FILE", "l3", "l2", "l1", "c1/merged", "c2/merged"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.observe(Observation::Table {
        title: tr!("The containers' upper directories:", "两个容器的 upper 目录："),
        columns: vec![ctx.t(&tr!("UPPER", "upper 目录")), "ENTRIES".into()],
        rows: ["c1/upper", "c2/upper"]
            .iter()
            .map(|d| {
                let n = names(&root.join(d));
                vec![
                    Fact::text(format!("{d}/")),
                    Fact::text(if n.is_empty() { ctx.t(&tr!("(empty)", "（空）")) } else { n.join("  ") }),
                ]
            })
            .collect(),
    });
    ctx.expect_eq(
        tr!("c2 sees the leftmost layer's config", "c2 看到的是最左边那层的 config"),
        "from l3",
        read(&root.join("c2/merged/config")),
        tr!("in lowerdir=l3:l2:l1 the leftmost layer is on top", "lowerdir=l3:l2:l1 中最左边的层在最上面"),
    );
    ctx.expect_eq(
        tr!("c1 sees its own change", "c1 看到的是自己的修改"),
        "changed in c1",
        read(&root.join("c1/merged/config")),
        tr!("c1's upper holds its copy", "c1 的 upper 里保存着它的副本"),
    );
    ctx.expect_eq(
        tr!("the shared layers are unchanged", "共享的层没有变化"),
        "from l3",
        read(&root.join("l3/config")),
        tr!("writes go to each container's upper only", "写操作只会进入各容器自己的 upper"),
    );
    ctx.expect_eq(
        tr!("c2's upper is still empty", "c2 的 upper 仍然是空的"),
        Fact::Number(0),
        Fact::Number(names(&root.join("c2/upper")).len() as i64),
        tr!("c2 has written nothing", "c2 没有写过任何东西"),
    );
    Ok(())
}

fn workdir(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.to_path_buf();
    let work = root.join("work");
    let entries = names(&work);
    let inner = std::fs::symlink_metadata(work.join("work")).ok();
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).unwrap_or(0);
    let same_fs = dev(&root.join("upper")) == dev(&work);
    let fs = crate::fs_name(&root.join("upper"));
    ctx.observe(Observation::Values {
        title: tr!("The seed's work/ while mounted:", "挂载期间种子实验的 work/："),
        values: vec![
            ("ls work/".into(), Fact::text(entries.join("  "))),
            ("work/work mode".into(), Fact::text(inner.as_ref().map(mode_string).unwrap_or_else(|| "-".into()))),
            (
                ctx.t(&tr!("upper and work on one filesystem", "upper 与 work 在同一文件系统")),
                Fact::text(ctx.word(if same_fs { "yes" } else { "no" })),
            ),
            (ctx.t(&tr!("that filesystem", "该文件系统")), Fact::Host(fs)),
        ],
    });

    // A workdir on another filesystem: a small tmpfs of our own.
    let other = root.join("tmpfs");
    let merged2 = root.join("merged2");
    mkdirs(&root, &["tmpfs", "upper2", "merged2"])?;
    ctx.register(Undo::Unmount { path: other.clone() });
    nix::mount::mount(
        Some("labctl-tmpfs"),
        &other,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m,mode=0700"),
    )
    .context("mounting a tmpfs for the other filesystem")?;
    std::fs::create_dir(other.join("work2"))?;
    let bad = Overlay::new([root.join("lower")]).with_upper(root.join("upper2"), other.join("work2"));
    ctx.register(Undo::Unmount { path: merged2.clone() });
    let kernel = bad.mount_unchecked(&merged2).map_err(|e| match e {
        crate::Error::Mount { errno, .. } => anyhow::Error::new(errno).context("mount(2)"),
        other => other.into(),
    });
    ctx.expect_failure(
        tr!("the kernel refuses a workdir on another filesystem", "内核拒绝位于另一个文件系统上的 workdir"),
        labkit::Failure::Errno(nix::errno::Errno::EINVAL),
        kernel,
        tr!("upper and work must share a filesystem", "upper 和 work 必须位于同一个文件系统"),
    );
    // labctl's own refusal, not the kernel's: a check on which error came back.
    let ours = bad.check();
    let says_why = matches!(ours, Err(crate::Error::DifferentFilesystems { .. }));
    let found = match ours {
        // The filesystem names vary by machine; the table above shows them.
        Err(crate::Error::DifferentFilesystems { .. }) => ctx.t(&tr!(
            "upperdir and workdir are on different filesystems: rename(2) cannot cross them",
            "upperdir 和 workdir 位于不同的文件系统：rename(2) 无法跨越文件系统"
        )),
        Err(other) => other.to_string(),
        Ok(_) => ctx.t(&tr!("accepted", "接受了")),
    };
    ctx.expect(
        tr!("labctl's own check says why", "labctl 自己的检查给出原因"),
        ctx.t(&tr!("different filesystems", "不同的文件系统")),
        found,
        says_why,
        tr!("Overlay::check compares st_dev of upper and work", "Overlay::check 会比较 upper 和 work 的 st_dev"),
    );
    ctx.expect(
        tr!("the seed's upper and work share one filesystem", "种子实验的 upper 和 work 位于同一个文件系统"),
        ctx.word("yes"),
        ctx.word(if same_fs { "yes" } else { "no" }),
        same_fs,
        tr!("they were made side by side in one directory", "它们是在同一个目录里并排创建的"),
    );
    Ok(())
}

fn upper_is_a_layer(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.to_path_buf();
    crate::unmount(&root.join("merged"))?;
    let mounted = mountinfo_line(&root.join("merged")).is_some();
    let changes = diff(&root.join("upper"), &[root.join("lower")])?;
    ctx.observe(Observation::Table {
        title: tr!(
            "After umount, upper/ read as a diff over lower/ (like docker diff):",
            "umount 之后，把 upper/ 当作相对 lower/ 的差异来读（就像 docker diff）："
        ),
        columns: vec![ctx.t(&tr!("KIND", "改动")), ctx.t(&tr!("PATH", "路径"))],
        rows: changes
            .iter()
            .map(|c| vec![Fact::text(c.kind.letter().to_string()), Fact::text(c.path.display().to_string())])
            .collect(),
    });
    let tar_path = root.join("layer.tar");
    let file = std::fs::File::create(&tar_path).context("creating layer.tar")?;
    let opts = LayerOptions { source_date_epoch: Some(0), owner: Some((0, 0)) };
    write_layer(&root.join("upper"), std::io::BufWriter::new(file), &opts)?;
    let mut rows = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path)?);
    for entry in archive.entries()? {
        let entry = entry?;
        let kind = ctx.t(&match entry.header().entry_type() {
            tar::EntryType::Regular => tr!("file", "文件"),
            tar::EntryType::Directory => tr!("directory", "目录"),
            tar::EntryType::Symlink => tr!("symlink", "符号链接"),
            _ => tr!("other", "其他"),
        });
        rows.push(vec![
            Fact::text(entry.path()?.display().to_string()),
            Fact::text(kind),
            Fact::Number(entry.header().size()? as i64),
        ]);
    }
    let has_wh = rows.iter().any(|r| r[0] == Fact::text(".wh.in_lower.txt"));
    ctx.observe(Observation::Table {
        title: tr!(
            "labctl overlay layer upper -o layer.tar, then tar -tf:",
            "labctl overlay layer upper -o layer.tar，再用 tar -tf 查看："
        ),
        columns: vec![ctx.t(&tr!("ENTRY", "条目")), "TYPE".into(), ctx.t(&tr!("SIZE", "大小"))],
        rows,
    });
    let deleted = changes.iter().filter(|c| c.kind == ChangeKind::Deleted).count();
    ctx.set("deleted", Fact::Number(deleted as i64));
    ctx.expect(
        tr!("the overlay is unmounted", "overlay 已卸载"),
        ctx.t(&tr!("not in mountinfo", "不在 mountinfo 里")),
        ctx.t(&if mounted {
            tr!("still mounted", "仍然挂载着")
        } else {
            tr!("not in mountinfo", "不在 mountinfo 里")
        }),
        !mounted,
        tr!("umount2(MNT_DETACH) should remove it at once", "umount2(MNT_DETACH) 应当立即移除它"),
    );
    ctx.expect_eq(
        tr!("upper kept every change", "upper 保留了所有改动"),
        "A /in_upper.txt, C /in_both.txt, D /in_lower.txt",
        {
            let mut v: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
            v.sort_by_key(|s| !s.starts_with('A'));
            v.join(", ")
        },
        tr!(
            "the upper directory is ordinary storage and outlives the mount",
            "upper 目录就是普通的存储，比挂载活得更久"
        ),
    );
    ctx.expect(
        tr!("the whiteout became .wh.in_lower.txt in the layer", "whiteout 在层里变成了 .wh.in_lower.txt"),
        ".wh.in_lower.txt",
        if has_wh { ".wh.in_lower.txt".to_string() } else { ctx.word("missing") },
        has_wh,
        tr!("OCI layers spell deletions as .wh.<name> files", "OCI 层用 .wh.<文件名> 表示删除"),
    );
    Ok(())
}

/// Regular files and their bytes under `dir`.
fn usage(dir: &Path) -> (i64, i64) {
    let (mut files, mut bytes) = (0, 0);
    let _ = crate::walk::walk(dir, &mut |n| {
        if n.meta.is_file() {
            files += 1;
            bytes += n.meta.len() as i64;
        }
        Ok(true)
    });
    (files, bytes)
}

fn cow_and_rootfs(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let root = state.root()?.join("image");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    ctx.observe(Observation::Values {
        title: tr!("bootfs and rootfs of container c1:", "容器 c1 的 bootfs 与 rootfs："),
        values: vec![
            (
                ctx.t(&tr!("bootfs: kernel (shared with the host)", "bootfs：内核（与宿主机共用）")),
                Fact::Host(release.trim().to_string()),
            ),
            (
                ctx.t(&tr!("rootfs: c1's /", "rootfs：c1 的 /")),
                Fact::TempPath(root.join("c1/merged").display().to_string()),
            ),
        ],
    });
    let mut rows = Vec::new();
    for (label, dir) in [
        (ctx.t(&tr!("image l1+l2+l3 (shared)", "镜像 l1+l2+l3（共用）")), None),
        ("c1/upper".into(), Some("c1/upper")),
        ("c2/upper".into(), Some("c2/upper")),
    ] {
        let (files, bytes) = match dir {
            Some(d) => usage(&root.join(d)),
            None => ["l1", "l2", "l3"].iter().map(|l| usage(&root.join(l))).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        };
        rows.push(vec![Fact::text(label), Fact::Number(files), Fact::Number(bytes)]);
    }
    let c2 = usage(&root.join("c2/upper"));
    let c1 = usage(&root.join("c1/upper"));
    ctx.observe(Observation::Table {
        title: tr!("Storage each part holds (regular files):", "各部分实际占用的存储（普通文件）："),
        columns: vec!["LAYER".into(), "FILES".into(), "BYTES".into()],
        rows,
    });
    ctx.set("c1_files", Fact::Number(c1.0));
    ctx.expect_eq(
        tr!("c1's upper holds only the file it wrote", "c1 的 upper 只保存了它写过的那个文件"),
        Fact::Number(1),
        Fact::Number(c1.0),
        tr!("copy-on-write copies only what is written", "写时复制只复制被写的文件"),
    );
    ctx.expect_eq(
        tr!("c2's upper holds nothing", "c2 的 upper 里什么也没有"),
        Fact::Number(0),
        Fact::Number(c2.0),
        tr!("nothing is allocated before a container writes", "容器写之前不会分配任何存储"),
    );
    Ok(())
}

/// The challenge: an overlay at /tmp/labctl-challenge/merged with two lower layers, where a
/// file that exists only in the bottom layer was deleted through merged.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let merged = Path::new("/tmp/labctl-challenge/merged");
    let line = mountinfo_line(merged);
    ctx.expect(
        tr!(
            "an overlay is mounted at /tmp/labctl-challenge/merged",
            "/tmp/labctl-challenge/merged 上挂载了一个 overlay"
        ),
        "overlay",
        Fact::text(line.as_ref().map(|l| l.fstype.clone()).unwrap_or_else(|| ctx.word("not mounted"))),
        line.as_ref().is_some_and(|l| l.fstype == "overlay"),
        tr!(
            "sudo mount -t overlay overlay -o lowerdir=l2:l1,upperdir=upper,workdir=work /tmp/labctl-challenge/merged",
            "sudo mount -t overlay overlay -o lowerdir=l2:l1,upperdir=upper,workdir=work /tmp/labctl-challenge/merged"
        ),
    );
    let Some(line) = line else { return Ok(()) };
    let opt = |key: &str| line.super_options.split(',').find_map(|o| o.strip_prefix(key).map(str::to_string));
    let lowers: Vec<PathBuf> = opt("lowerdir=").unwrap_or_default().split(':').map(PathBuf::from).collect();
    ctx.expect(
        tr!("it has at least two lower layers", "它至少有两个 lower 层"),
        "lowerdir=A:B",
        Fact::Number(lowers.len() as i64),
        lowers.len() >= 2,
        tr!("separate the layers with ':' in lowerdir=", "在 lowerdir= 中用 ':' 分隔各层"),
    );
    let Some(upper) = opt("upperdir=").map(PathBuf::from) else {
        ctx.expect(
            tr!("it has an upper layer", "它有 upper 层"),
            "upperdir=…",
            ctx.word("none"),
            false,
            tr!("add upperdir= and workdir=", "加上 upperdir= 和 workdir="),
        );
        return Ok(());
    };
    let bottom = lowers.last().cloned().unwrap_or_default();
    let changes = diff(&upper, &lowers).unwrap_or_default();
    let deleted: Vec<String> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Deleted)
        .filter(|c| exists(&bottom.join(c.path.strip_prefix("/").unwrap_or(&c.path))))
        .map(|c| c.path.display().to_string())
        .collect();
    ctx.expect(
        tr!("upper holds a whiteout for a file of the bottom layer", "upper 里有一个针对最底层文件的 whiteout"),
        ctx.t(&tr!("a whiteout (character device 0/0)", "一个 whiteout（0/0 字符设备）")),
        Fact::text(if deleted.is_empty() { ctx.word("none") } else { deleted.join(", ") }),
        !deleted.is_empty(),
        tr!(
            "rm /tmp/labctl-challenge/merged/<a file only the bottom layer has>",
            "rm /tmp/labctl-challenge/merged/<只有最底层才有的文件>"
        ),
    );
    Ok(())
}
