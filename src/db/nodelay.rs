//! sqlx 0.9.0 leaves Nagle's algorithm on for its TCP connections (sqlx issue
//! #4335; fixed upstream after 0.9.0, the latest release): a statement too big
//! for one segment then waits ~40 ms for the server's delayed ACK. Measured here
//! on MariaDB as 45 and 90 ms stalls of the intake's multi-row INSERTs. Until a
//! fixed sqlx is out, each new pool connection gives the process's TCP sockets
//! to the database's port `TCP_NODELAY` (harmless on any TCP socket: HTTP
//! servers and clients set it as a rule).

/// The server port of a `mysql://` URL that goes over TCP.
pub fn mysql_port(url: &str) -> Option<u16> {
    let url = url::Url::parse(url).ok().filter(|u| u.scheme() == "mysql")?;
    if url.query_pairs().any(|(k, _)| k == "socket") {
        return None; // a Unix socket
    }
    Some(url.port().unwrap_or(3306))
}

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to `port`.
/// How many it found.
#[cfg(target_os = "linux")]
pub fn set_to_port(port: u16) -> usize {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return 0 };
    let mut found = 0;
    for entry in fds.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<libc::c_int>().ok()) else { continue };
        if peer_port(fd) != Some(port) {
            continue;
        }
        let on: libc::c_int = 1;
        // SAFETY: `on` outlives the call and its size is passed; a closed or
        // reused descriptor only makes the call fail (or set the flag on it).
        let set = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set == 0 {
            found += 1;
        }
    }
    found
}

#[cfg(not(target_os = "linux"))]
pub fn set_to_port(_port: u16) -> usize {
    0
}

/// The remote port of `fd` when it is a connected IPv4/IPv6 socket.
#[cfg(target_os = "linux")]
fn peer_port(fd: libc::c_int) -> Option<u16> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` has room for any address and `len` says how much.
    if unsafe { libc::getpeername(fd, (&mut addr as *mut libc::sockaddr_storage).cast(), &mut len) } != 0 {
        return None; // not a socket, or not connected
    }
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it holds a `sockaddr_in`.
            let v4 = unsafe { &*(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(u16::from_be(v4.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it holds a `sockaddr_in6`.
            let v6 = unsafe { &*(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(u16::from_be(v6.sin6_port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mysql_port_of_urls() {
        assert_eq!(super::mysql_port("mysql://root@127.0.0.1:3307/wagate"), Some(3307));
        assert_eq!(super::mysql_port("mysql://root@db/wagate"), Some(3306));
        assert_eq!(super::mysql_port("mysql://root@localhost/wagate?socket=/run/mysqld/mysqld.sock"), None);
        assert_eq!(super::mysql_port("sqlite://data/wagate.db?mode=rwc"), None);
    }

    #[cfg(target_os = "linux")]
    use std::{
        net::{TcpListener, TcpStream},
        os::fd::AsRawFd,
    };

    #[cfg(target_os = "linux")]
    #[test]
    fn sets_nodelay_on_sockets_to_the_port_only() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let to_db = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let elsewhere = TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(!to_db.nodelay().unwrap() && !elsewhere.nodelay().unwrap());
        assert_eq!(super::set_to_port(listener.local_addr().unwrap().port()), 1);
        assert!(to_db.nodelay().unwrap(), "the socket to the port got TCP_NODELAY");
        assert!(!elsewhere.nodelay().unwrap(), "another socket kept its setting");
        assert_eq!(super::peer_port(listener.as_raw_fd()), None, "a listener has no peer");
    }
}
