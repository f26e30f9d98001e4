//! Who listens on a TCP port, so "port 5000 is in use" can name the program to
//! stop. The `listeners` crate asks each OS its own way (Linux: `/proc/net/tcp{,6}`
//! and the socket inodes under `/proc/*/fd`; macOS: libproc; Windows and the BSDs
//! too), with no `lsof` to spawn and parse.

use std::fmt;

/// The process holding a listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOwner {
    pub pid: u32,
    /// The process name (`python3`, `node`).
    pub name: String,
}

impl fmt::Display for PortOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PID {} ({})", self.pid, self.name)
    }
}

/// The process listening on TCP `port` (any address), if one can be seen. A
/// process of another user is invisible without privileges: then `None`, as for a
/// free port.
pub fn port_owner(port: u16) -> Option<PortOwner> {
    let all = listeners::get_all().ok()?;
    let mut owners: Vec<PortOwner> = all
        .into_iter()
        .filter(|l| {
            l.protocol == listeners::Protocol::TCP
                && l.state == listeners::SocketState::Listen
                && l.socket.port() == port
        })
        .map(|l| PortOwner {
            pid: l.process.pid,
            name: l.process.name,
        })
        .collect();
    // Several processes can share one listening socket (a pre-fork server, a
    // reloader and its worker): the oldest, lowest PID is the one to stop.
    owners.sort_by_key(|o| o.pid);
    owners.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_listening_port_is_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let owner = port_owner(port).expect("our own listener is visible");
        assert_eq!(owner.pid, std::process::id());
        assert_eq!(
            owner.to_string(),
            format!("PID {} ({})", owner.pid, owner.name)
        );
    }
}
