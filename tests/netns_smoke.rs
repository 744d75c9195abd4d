//! The namespace helpers themselves: two namespaces on a veth link reach each other, and
//! teardown removes them.
mod common;
use common::netns::*;

#[test]
fn two_namespaces_ping_over_veth_and_vanish() {
    if !can_use_netns() {
        eprintln!("skipped: needs root and iproute2");
        return;
    }
    let names;
    {
        let a = Netns::new("hsa");
        let b = Netns::new("hsb");
        veth(&a, "hb0", &b, "hb0");
        a.sh("ip addr add 198.51.100.1/24 dev hb0");
        b.sh("ip addr add 198.51.100.2/24 dev hb0");
        assert!(a.run("ping -c1 -W2 198.51.100.2").status.success() || !has_ping());
        names = (a.name.clone(), b.name.clone());
    }
    let list = sh("ip netns list");
    assert!(!list.contains(&names.0) && !list.contains(&names.1));
}

fn has_ping() -> bool {
    run("command -v ping").status.success()
}
