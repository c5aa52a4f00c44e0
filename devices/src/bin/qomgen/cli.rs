//! Argument handling and the four jobs: help, dumps, realize, probe.

use std::io::Write;

use qomgen::introspect::{self, Dump, HelpStyle};
use qomgen::{Error, ObjectTree, Spec, SpecKind};
use qomgen_devices::attach::{self, BackendPolicy};
use qomgen_devices::host::Host;
use qomgen_devices::report::DeviceReport;
use qomgen_devices::{availability, validate};

const PROG: &str = "qomgen";

const USAGE: &str = "\
usage: qomgen [probe] [--json]
       qomgen -device help | -device NAME,help | -object help | -object NAME,help [--extra]
       qomgen --dump json
       qomgen --diff OLD.json NEW.json
       qomgen [--vfio-backend legacy|auto|iommufd] [--json] [--dry-run] [-object SPEC]... [-device SPEC]...
       qomgen -qmp stdio|unix:PATH[,server=on,wait=off] [-object SPEC]... [-device SPEC]...
options:
  -device SPEC         create, set and realize a device (keyval or JSON, as QEMU's -device)
  -object SPEC         create an object (as QEMU's -object), before any device
  -qmp CHARDEV         after realizing the command line, serve QMP on stdio or a unix socket
                       until quit, end of input or SIGTERM/SIGINT; then release everything
  --dry-run            stop before opening anything; print what realize would open
  --json               machine-readable output
  --extra              help: add since, unstable, access and host-availability notes
  --vfio-backend P     devices without iommufd=: legacy (QEMU's rule), auto, iommufd
  --root DIR           look up sysfs and /dev under DIR instead of /
  --dump json          every registered type as one JSON document
  --diff OLD NEW       what changed between two dumps; exit 0 compatible, 2 breaking
  -h, --help           this text
";

/// One `-device`/`-object` argument, in command-line order.
struct OptArg {
    kind: SpecKind,
    text: String,
}

#[derive(Default)]
struct Options {
    specs: Vec<OptArg>,
    json: bool,
    dry_run: bool,
    extra: bool,
    probe: bool,
    policy: BackendPolicy,
    root: Option<String>,
    dump: Option<String>,
    diff: Option<(String, String)>,
    help: bool,
    qmp: Option<String>,
}

/// A failure to report: which option it belongs to (for QEMU's
/// `prog: -device SPEC: message` form) and the error.
struct Failure {
    option: Option<(String, String)>,
    error: Error,
}

impl Failure {
    fn bare(error: Error) -> Self {
        Failure {
            option: None,
            error,
        }
    }

    fn at(option: &str, arg: &str, error: Error) -> Self {
        Failure {
            option: Some((option.to_owned(), arg.to_owned())),
            error,
        }
    }
}

fn option_name(a: &str) -> Option<&str> {
    a.strip_prefix("--")
        .or_else(|| a.strip_prefix('-'))
        .filter(|n| !n.is_empty())
}

fn parse_args(args: &[String]) -> Result<Options, Failure> {
    let mut o = Options::default();
    let mut it = args.iter();
    let usage = |msg: String| {
        Failure::bare(
            Error::new(msg).with_hint(format!("Try '{PROG} --help' for more information.")),
        )
    };
    while let Some(a) = it.next() {
        if a == "probe" && o.specs.is_empty() {
            o.probe = true;
            continue;
        }
        let Some(name) = option_name(a) else {
            return Err(usage(format!("{a}: invalid argument")));
        };
        let mut value = |_: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("{a}: requires an argument")))
        };
        match name {
            "device" => o.specs.push(OptArg {
                kind: SpecKind::Device,
                text: value(name)?,
            }),
            "object" => o.specs.push(OptArg {
                kind: SpecKind::Object,
                text: value(name)?,
            }),
            "qmp" => o.qmp = Some(value(name)?),
            "json" => o.json = true,
            "dry-run" => o.dry_run = true,
            "extra" => o.extra = true,
            "h" | "help" => o.help = true,
            "root" => o.root = Some(value(name)?),
            "dump" => o.dump = Some(value(name)?),
            "vfio-backend" => {
                let v = value(name)?;
                o.policy = match v.as_str() {
                    "legacy" => BackendPolicy::Legacy,
                    "auto" => BackendPolicy::Auto,
                    "iommufd" => BackendPolicy::Iommufd,
                    _ => {
                        return Err(Failure::at(
                            "-vfio-backend",
                            &v,
                            Error::new(format!(
                                "Parameter 'vfio-backend' does not accept value '{v}'"
                            ))
                            .with_hint("Use legacy, auto or iommufd"),
                        ));
                    }
                }
            }
            "diff" => {
                let old = value(name)?;
                let new = value(name)?;
                o.diff = Some((old, new));
            }
            _ => return Err(usage(format!("{a}: invalid option"))),
        }
    }
    Ok(o)
}

fn print_failure(err: &mut dyn Write, f: &Failure) {
    let text = match &f.option {
        Some((opt, arg)) => f.error.to_cli(PROG, opt.trim_start_matches('-'), arg),
        None => {
            let mut s = format!("{PROG}: {}\n", f.error.message());
            if let Some(h) = f.error.hint() {
                s.push_str(h);
                s.push('\n');
            }
            s
        }
    };
    let _ = err.write_all(text.as_bytes());
}

/// Runs the command line; returns the exit status.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write, colour: bool) -> u8 {
    // Keep every device type of the devices crate in the binary.
    let _ = qomgen_devices::models::register().count();
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(f) => {
            print_failure(err, &f);
            return 1;
        }
    };
    if opts.help {
        let _ = out.write_all(USAGE.as_bytes());
        return 0;
    }
    let host = opts
        .root
        .as_deref()
        .map_or_else(Host::system, Host::with_root);
    let result = if let Some(fmt) = &opts.dump {
        dump(fmt, out)
    } else if let Some((old, new)) = &opts.diff {
        return diff(old, new, out, err);
    } else if let Some(code) = help(&opts, &host, out, err) {
        return code;
    } else if let Some(chardev) = &opts.qmp {
        qmp(&opts, chardev, host, err)
    } else if opts.probe || opts.specs.is_empty() {
        probe(&host, opts.json, colour, out)
    } else {
        realize(&opts, host, out, err)
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            print_failure(err, &f);
            1
        }
    }
}

fn dump(fmt: &str, out: &mut dyn Write) -> Result<(), Failure> {
    if fmt != "json" {
        return Err(Failure::at(
            "-dump",
            fmt,
            Error::new(format!("Parameter 'dump' does not accept value '{fmt}'"))
                .with_hint("The only format is json"),
        ));
    }
    let _ = writeln!(out, "{}", introspect::dump().to_json_pretty());
    Ok(())
}

fn diff(old: &str, new: &str, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let load = |path: &str| -> Result<Dump, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::at(
                "-diff",
                path,
                Error::new(format!("Could not read '{path}': {e}")),
            )
        })?;
        Dump::from_json(&text).map_err(|e| Failure::at("-diff", path, e))
    };
    let (a, b) = match (load(old), load(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(f), _) | (_, Err(f)) => {
            print_failure(err, &f);
            return 1;
        }
    };
    let report = introspect::diff(&a, &b);
    let _ = write!(out, "{report}");
    if report.is_empty() {
        let _ = writeln!(out, "no changes");
    }
    if report.is_breaking() { 2 } else { 0 }
}

/// `help`/`?` anywhere in a `-device`/`-object` argument prints help and
/// ends the run, as QEMU does: with status 0, also for a `-device` type it
/// does not know; an unknown `-object` type is an error (status 1), since
/// QEMU's `object_option_parse` exits 0 only once it printed a type's help
/// and otherwise goes on to parse the option, which fails.
fn help(opts: &Options, host: &Host, out: &mut dyn Write, err: &mut dyn Write) -> Option<u8> {
    for arg in &opts.specs {
        let spec = match Spec::parse(arg.kind, &arg.text) {
            Ok(s) => s,
            Err(_) => continue,
        };
        let ty = spec.type_name.as_deref();
        let list = ty.is_some_and(|t| t == "help" || t == "?");
        if !spec.help && !list {
            continue;
        }
        // The host is looked at only for `--extra`'s availability notes.
        let avail;
        let style = if opts.extra {
            avail = availability::check(host);
            HelpStyle::extra_with(&avail)
        } else {
            HelpStyle::QEMU
        };
        let text = match (arg.kind, list) {
            (SpecKind::Device, true) => Ok(introspect::device_list_help(false)),
            (SpecKind::Object, true) => Ok(introspect::object_list_help()),
            (SpecKind::Device, false) => introspect::device_help(ty.unwrap_or_default(), &style),
            (SpecKind::Object, false) => introspect::object_help(ty.unwrap_or_default(), &style),
        };
        return Some(match text {
            Ok(t) => {
                let _ = out.write_all(t.as_bytes());
                0
            }
            Err(e) => {
                print_failure(err, &Failure::at(option_of(arg.kind), &arg.text, e));
                match arg.kind {
                    SpecKind::Device => 0,
                    SpecKind::Object => 1,
                }
            }
        });
    }
    None
}

fn option_of(kind: SpecKind) -> &'static str {
    match kind {
        SpecKind::Device => "-device",
        SpecKind::Object => "-object",
    }
}

fn probe(host: &Host, json: bool, colour: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let report = validate::Report::gather(host);
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::bare(Error::new(e.to_string())))?;
        let _ = writeln!(out, "{text}");
    } else {
        let _ = out.write_all(report.render(colour).as_bytes());
    }
    Ok(())
}

/// Prints what realize warned about, as QEMU's `warn_report` does.
fn print_warnings(tree: &mut ObjectTree, option: &str, arg: &str, err: &mut dyn Write) {
    for w in tree.take_warnings() {
        let _ = err.write_all(w.to_cli_warning(PROG, option, arg).as_bytes());
    }
}

/// `-qmp`: realize the command line as [`realize`] does (printing no
/// reports: standard output may be the monitor), serve, release.
fn qmp(opts: &Options, chardev: &str, host: Host, err: &mut dyn Write) -> Result<(), Failure> {
    let endpoint =
        crate::qmp::parse_endpoint(chardev).map_err(|e| Failure::at("-qmp", chardev, e))?;
    let mut tree = ObjectTree::new();
    tree.set_resource(host);
    tree.set_resource(opts.policy);
    let specs: Vec<(&OptArg, Spec)> = opts
        .specs
        .iter()
        .map(|a| {
            Spec::parse(a.kind, &a.text)
                .map(|s| (a, s))
                .map_err(|e| Failure::at(option_of(a.kind), &a.text, e))
        })
        .collect::<Result<_, Failure>>()?;
    for kind in [SpecKind::Object, SpecKind::Device] {
        for (a, spec) in specs.iter().filter(|(a, _)| a.kind == kind) {
            let res = match kind {
                SpecKind::Object => tree.object_add_spec(spec).map(drop),
                SpecKind::Device => tree.device_add_spec(spec).map(drop),
            };
            let option = option_of(kind).trim_start_matches('-');
            print_warnings(&mut tree, option, &a.text, err);
            res.map_err(|e| Failure::at(option_of(kind), &a.text, e))?;
        }
    }
    // Errors go to stderr as they happen; the monitor's own are replies.
    let _ = err.flush();
    let served = crate::qmp::serve(&endpoint, &mut tree);
    tree.clear();
    served.map_err(|e| Failure::at("-qmp", chardev, e))
}

fn realize(
    opts: &Options,
    host: Host,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let mut tree = ObjectTree::new();
    tree.set_resource(host.clone());
    tree.set_resource(opts.policy);
    let parsed: Vec<(&OptArg, Spec)> = opts
        .specs
        .iter()
        .map(|a| {
            let spec = Spec::parse(a.kind, &a.text)
                .map_err(|e| Failure::at(option_of(a.kind), &a.text, e))?;
            for w in spec.warnings.chunks(2) {
                let mut line = format!(
                    "{PROG}: {} {}: warning: {}\n",
                    option_of(a.kind),
                    a.text,
                    w[0]
                );
                for rest in &w[1..] {
                    line.push_str(rest);
                    line.push('\n');
                }
                let _ = err.write_all(line.as_bytes());
            }
            Ok((a, spec))
        })
        .collect::<Result<_, Failure>>()?;
    // Objects first, then devices, each group in command-line order.
    for (a, spec) in parsed.iter().filter(|(a, _)| a.kind == SpecKind::Object) {
        let res = tree.object_add_spec(spec);
        print_warnings(&mut tree, "object", &a.text, err);
        res.map_err(|e| Failure::at("-object", &a.text, e))?;
    }
    let mut reports = Vec::new();
    let mut plans = Vec::new();
    for (a, spec) in parsed.iter().filter(|(a, _)| a.kind == SpecKind::Device) {
        let fail = |e| Failure::at("-device", &a.text, e);
        if opts.dry_run {
            spec.resolve_type().map_err(fail)?;
            let inst = spec.instantiate(&tree).map_err(fail)?;
            let steps = qomgen_devices::models::vfio_device(inst.object())
                .map(|d| attach::plan(d, &host, opts.policy))
                .unwrap_or_else(|| vec!["no host resources: realize opens nothing".to_owned()]);
            plans.push(serde_json::json!({
                "id": spec.id,
                "driver": inst.type_info().name,
                "plan": steps,
            }));
            continue;
        }
        let res = tree.device_add_spec(spec);
        print_warnings(&mut tree, "device", &a.text, err);
        let obj = res.map_err(fail)?;
        let r = DeviceReport::of(&**obj.borrow(), spec.id.as_deref());
        reports.push(r);
    }
    if opts.dry_run {
        if opts.json {
            let _ = writeln!(
                out,
                "{}",
                serde_json::json!({ "dry-run": true, "devices": plans })
            );
        } else {
            for p in &plans {
                let id = p["id"]
                    .as_str()
                    .map(|i| format!(" (id {i})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "{}{id}: would", p["driver"].as_str().unwrap_or(""));
                for s in p["plan"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "  {}", s.as_str().unwrap_or(""));
                }
            }
        }
    } else if opts.json {
        let devices: Vec<_> = reports.iter().flatten().collect();
        let _ = writeln!(out, "{}", serde_json::json!({ "devices": devices }));
    } else {
        for r in reports.iter().flatten() {
            let _ = write!(out, "{r}");
        }
    }
    // Release in reverse: devices (unrealize), then objects.
    tree.clear();
    Ok(())
}
