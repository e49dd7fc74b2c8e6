//! A real ZooKeeper server (Debian's `zookeeper` package, installed by `.ci/install-tools`) on a
//! free loopback port with a temporary data directory, for the ZooKeeper-HA tests. Its own
//! process group; killed and removed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const JAR: &str = "/usr/share/java/zookeeper.jar";

pub struct ZooKeeper {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl ZooKeeper {
    pub fn start() -> Self {
        assert!(
            std::path::Path::new(JAR).exists(),
            "{JAR} is missing: install Debian's zookeeper package (bash .ci/install-tools)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = tempfile::Builder::new()
            .prefix("zookeeper-")
            .tempdir()
            .expect("temp dir");
        let conf = dir.path().join("zoo.cfg");
        std::fs::write(
            &conf,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 maxClientCnxns=200\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n",
                dir.path().join("data").display()
            ),
        )
        .expect("zoo.cfg");
        let log = std::fs::File::create(dir.path().join("zookeeper.log")).expect("log");
        let err = log.try_clone().expect("log");
        let mut cmd = Command::new("java");
        cmd.arg("-Xmx128m")
            .arg("-cp")
            .arg(format!("{JAR}:/etc/zookeeper/conf"))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd.spawn().expect("start ZooKeeper");
        let mut zk = Self { port, child, dir };
        zk.wait_ready();
        zk
    }

    /// `host:port`, as `high-availability.zookeeper.quorum` takes it.
    pub fn quorum(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("zookeeper.log")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
                Duration::from_secs(1),
            ) {
                // A server still starting can hold the connection open without answering.
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut answer = String::new();
                if s.write_all(b"ruok").is_ok()
                    && s.shutdown(std::net::Shutdown::Write).is_ok()
                    && s.read_to_string(&mut answer).is_ok()
                    && answer == "imok"
                {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ZooKeeper exited ({status}):\n{}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper not serving after 30 s:\n{}",
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
