//! `qomgen -qmp`: the protocol over stdio and a unix socket (greeting,
//! negotiation per client, `SCM_RIGHTS` descriptors, SIGTERM, release on
//! exit), QEMU's own Python client `qemu.qmp` against it, and the
//! descriptor count over 1,000 `getfd` / `object-add` / `object-del`
//! rounds in process.
//!
//! The Python client is installed into a virtual environment under
//! `target/` when it is missing; the test fails, never skips, when that
//! cannot be done.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Tests here spawn processes (pipes) while one counts descriptors.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn qomgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qomgen"))
}

/// Spawns `qomgen -qmp unix:SOCK,server=on,wait=off` on an empty fake
/// host and waits for the socket.
fn spawn_socket(dir: &Path) -> (Child, PathBuf) {
    let sock = dir.join("qmp.sock");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let child = qomgen()
        .arg("--root")
        .arg(&root)
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !sock.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "no socket");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, sock)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "qomgen did not exit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Client {
    reader: BufReader<UnixStream>,
    stream: UnixStream,
}

impl Client {
    fn connect(sock: &Path) -> (Client, Value) {
        let stream = UnixStream::connect(sock).unwrap();
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        let greeting = c.recv();
        (c, greeting)
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "{line:?}");
        serde_json::from_str(&line).unwrap()
    }

    fn send(&mut self, req: &str) {
        self.stream.write_all(req.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    fn cmd(&mut self, req: &str) -> Value {
        self.send(req);
        self.recv()
    }

    /// Sends `req` with `fd` attached (`SCM_RIGHTS`), as `qemu.qmp`'s
    /// `send_fd_scm` and libvirt do.
    fn cmd_with_fd(&mut self, req: &str, fd: &OwnedFd) -> Value {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        let data = format!("{req}\n");
        let iov = [std::io::IoSlice::new(data.as_bytes())];
        let fds = [fd.as_raw_fd()];
        sendmsg::<()>(
            self.stream.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        self.recv()
    }

    /// `req` succeeds with an empty return.
    #[track_caller]
    fn ok(&mut self, req: &str) {
        assert_eq!(self.cmd(req), json!({"return": {}}), "{req}");
    }

    /// [`Client::ok`] with `fd` attached.
    #[track_caller]
    fn ok_with_fd(&mut self, req: &str, fd: &OwnedFd) {
        assert_eq!(self.cmd_with_fd(req, fd), json!({"return": {}}), "{req}");
    }
}

#[test]
fn stdio_session() {
    let _s = serial();
    let root = tempfile::tempdir().unwrap();
    let mut child = qomgen()
        .arg("--root")
        .arg(root.path())
        .args(["-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Byte for byte what qemu-system-x86_64 10.0 answers, but for the
    // version and package.
    stdin
        .write_all(
            b"{\"execute\":\"query-version\"}\n\
              {\"execute\":\"qmp_capabilities\",\"id\":[1,{\"a\":null}]}\n\
              {\"execute\":\"nope\",\"id\":3.5}\n{ \"x\n\"\n}\n\
              {'execute':'qom-list-properties','arguments':{'typename':'iommufd'}}\n\
              {'execute':'object-add','arguments':{'qom-type':'iommufd','id':'io0','fd':'nm'}}\n",
        )
        .unwrap();
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(wait_exit(&mut child).success());
    let lines: Vec<&str> = out.split_inclusive("\r\n").collect();
    assert_eq!(
        lines[0],
        format!(
            "{{\"QMP\": {{\"version\": {{\"qemu\": {{\"micro\": 0, \"minor\": 2, \"major\": 10}}, \
             \"package\": \"qomgen {}\"}}, \"capabilities\": []}}}}\r\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        &lines[1..],
        [
            "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n",
            "{\"return\": {}, \"id\": [1, {\"a\": null}]}\r\n",
            "{\"id\": 3.5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}}\r\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\\"x\\n'\"}}\r\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, expecting value\"}}\r\n",
            "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"fd\", \"type\": \"string\"}]}\r\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Could not parse remote object fd nm:File descriptor named 'nm' has not been found\"}}\r\n",
        ]
    );
}

#[test]
fn command_line_is_realized_first() {
    let _s = serial();
    let root = tempfile::tempdir().unwrap();
    let out = qomgen()
        .arg("--root")
        .arg(root.path())
        .args(["-qmp", "stdio", "-object", "iommufd,id=io0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qomgen: -object iommufd,id=io0: can't create iommufd object: /dev/iommu not found\n\
         Is your kernel config missing CONFIG_IOMMUFD?\n"
    );
    let out = qomgen()
        .args(["-qmp", "tcp:localhost:4444"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qomgen: -qmp tcp:localhost:4444: 'tcp:localhost:4444' is not a supported QMP chardev\n\
         Use -qmp stdio or -qmp unix:PATH,server=on,wait=off\n"
    );
}

#[test]
fn socket_clients_fds_and_sigterm() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, sock) = spawn_socket(dir.path());
    let (mut c, greeting) = Client::connect(&sock);
    assert_eq!(greeting["QMP"]["capabilities"], json!([]));
    c.ok("{'execute':'qmp_capabilities'}");
    let null: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    c.ok_with_fd("{'execute':'getfd','arguments':{'fdname':'n0'}}", &null);
    c.ok("{'execute':'object-add','arguments':{'qom-type':'iommufd','id':'io0','fd':'n0'}}");
    // Taken over by the object: the name is gone.
    assert_eq!(
        c.cmd("{'execute':'closefd','arguments':{'fdname':'n0'}}")["error"]["desc"],
        "File descriptor named 'n0' not found"
    );
    c.ok_with_fd("{'execute':'getfd','arguments':{'fdname':'n1'}}", &null);
    c.ok("{'execute':'closefd','arguments':{'fdname':'n1'}}");
    drop(c);

    // The next client gets a greeting and negotiates again; the tree stays.
    let (mut c, _) = Client::connect(&sock);
    assert_eq!(
        c.cmd("{'execute':'qom-list','arguments':{'path':'/objects'}}")["error"]["desc"],
        "Expecting capabilities negotiation with 'qmp_capabilities'"
    );
    c.cmd("{'execute':'qmp_capabilities'}");
    assert_eq!(
        c.cmd("{'execute':'qom-list','arguments':{'path':'/objects'}}"),
        json!({"return": [{"name": "type", "type": "string"}, {"name": "io0", "type": "child<iommufd>"}]})
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let ev = c.recv();
    assert_eq!(ev["event"], "SHUTDOWN");
    assert_eq!(ev["data"], json!({"guest": false, "reason": "host-signal"}));
    assert!(wait_exit(&mut child).success());
    assert!(!sock.exists(), "the socket is removed on exit");
}

/// A virtual environment with `qemu.qmp`, made under `target/` when missing.
fn python_with_qemu_qmp() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qmp-venv");
    let python = venv.join("bin/python");
    let has = |p: &Path| {
        Command::new(p)
            .args(["-c", "import qemu.qmp"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has(&python) {
        return python;
    }
    let run = |cmd: &mut Command| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: the qemu.qmp client test needs python3 with venv and \
             pip access to PyPI\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "qemu.qmp"]));
    assert!(
        has(&python),
        "qemu.qmp still not importable in {}",
        venv.display()
    );
    python
}

#[test]
fn qemu_qmp_python_client() {
    let _s = serial();
    let python = python_with_qemu_qmp();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, sock) = spawn_socket(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qmp/qemu_qmp_client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&sock)
        .arg("/dev/null")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let _ = child.kill();
    }
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok: SHUTDOWN on quit"), "{text}");
    assert!(wait_exit(&mut child).success(), "quit ends qomgen");
    assert!(!sock.exists());
}

#[test]
fn getfd_object_rounds_keep_the_descriptor_count() {
    use qomgen::ObjectTree;
    use qomgen::qmp::Monitor;
    let _s = serial();
    let _ = qomgen_devices::models::register().count();
    let mut tree = ObjectTree::new();
    let mut mon = Monitor::new();
    let mut out = Vec::new();
    mon.feed(&mut tree, b"{'execute':'qmp_capabilities'}\n", &mut out);
    let before = common::open_fds();
    for _ in 0..1000 {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        mon.receive_fds(vec![fd]);
        out.clear();
        mon.feed(
            &mut tree,
            b"{'execute':'getfd','arguments':{'fdname':'iommu'}}\n\
              {'execute':'object-add','arguments':{'qom-type':'iommufd','id':'io0','fd':'iommu'}}\n\
              {'execute':'object-del','arguments':{'id':'io0'}}\n",
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"return\": {}}\r\n".repeat(3)
        );
    }
    assert_eq!(common::open_fds(), before);
}
