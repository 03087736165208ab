//! No test may contact any host but 127.0.0.1. `scripts/test.sh` runs the suite in a network
//! namespace with only loopback and says so in `AEO_NETWORK_ISOLATED`; this test proves the
//! isolation is real: anything else is unreachable, while loopback works.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

#[test]
fn only_loopback_is_reachable_while_the_suite_runs() {
    let isolated = std::env::var("AEO_NETWORK_ISOLATED").as_deref() == Ok("1");
    let required = std::env::var("AEO_REQUIRE_NETWORK_ISOLATION").as_deref() == Ok("1");
    if !isolated {
        assert!(
            !required,
            "CI requires the loopback-only network namespace, and the suite is not in one"
        );
        eprintln!(
            "skipped: the suite is not running in a loopback-only network namespace (run it with scripts/test.sh)"
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    TcpStream::connect_timeout(&listener.local_addr().unwrap(), Duration::from_secs(2))
        .expect("loopback works");
    for address in ["1.1.1.1:443", "8.8.8.8:53", "140.82.112.3:443"] {
        let address: SocketAddr = address.parse().unwrap();
        assert!(
            TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err(),
            "{address} is reachable from the test network"
        );
    }
    assert!(
        ("api.airbyte.ai", 443)
            .to_socket_addrs()
            .map(|mut a| a.next().is_none())
            .unwrap_or(true),
        "names outside the machine resolve"
    );
}
