//! Benchmark: UDP forwarding through a chain of K router vimages (K = 1, 8, 32)
//! and the same chain built from Linux network namespaces, measured the same way
//! in the same run; prints a table.  Then two independent chains in one
//! kernel forwarding at once, one thread each, against one alone: different
//! vnets must not serialize on a lock.  `cargo bench --bench forwarding_chain`.

mod linux_chain;
mod vimage_chain;

const DATAGRAMS: u32 = 100_000;
const LEN: usize = 64;

fn main() {
    println!(
        "| chain | K | datagrams/s ({LEN}-byte UDP) | UDP round trip (median) | ping round trip |"
    );
    println!("|---|---|---|---|---|");
    // FWD_PARALLEL_ONLY=1: just the two-chain run (for profiling).
    let only_parallel = std::env::var_os("FWD_PARALLEL_ONLY").is_some();
    for k in [1usize, 8, 32].into_iter().filter(|_| !only_parallel) {
        let (pps, rtt, ping) = vimage_chain::measure(k, DATAGRAMS, LEN);
        println!("| vimages + eifaces | {k} | {pps:.0} | {rtt:.1} µs | {ping:.1} µs (median) |");
        match linux_chain::unavailable() {
            Some(why) => println!("| Linux netns + veth | {k} | ({why}) | | |"),
            None => match linux_chain::measure(k, DATAGRAMS, LEN) {
                Some((pps, rtt, ping)) => {
                    let ping = if ping.is_nan() {
                        if linux_chain::host_has("ping") {
                            "(ping failed)".to_string()
                        } else {
                            "(no host ping: apt-get install iputils-ping)".to_string()
                        }
                    } else {
                        format!("{ping:.1} µs (avg)")
                    };
                    println!("| Linux netns + veth | {k} | {pps:.0} | {rtt:.1} µs | {ping} |")
                }
                None => println!("| Linux netns + veth | {k} | (setup failed) | | |"),
            },
        }
    }
    parallel(8, DATAGRAMS, LEN);
}

/// Two chains of `k` routers in one kernel (same addresses, separate
/// vimages), each blasted from its own thread at once, against each alone;
/// medians of 3 rounds.
fn parallel(k: usize, datagrams: u32, len: usize) {
    let kern = vimage_chain::boot();
    let mut a = vimage_chain::build(&kern, k, "a");
    let mut b = vimage_chain::build(&kern, k, "b");
    a.probe();
    b.probe();
    let (mut alone, mut both) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        alone.push(a.blast(datagrams, len));
        alone.push(b.blast(datagrams, len));
        let (ta, tb) = std::thread::scope(|s| {
            let ha = s.spawn(|| a.blast(datagrams, len));
            let hb = s.spawn(|| b.blast(datagrams, len));
            (ha.join().unwrap_or(0.0), hb.join().unwrap_or(0.0))
        });
        both.push(ta + tb);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let (one, two) = (med(&mut alone), med(&mut both));
    println!();
    println!("| two chains of K = {k} at once | datagrams/s |");
    println!("|---|---|");
    println!("| one chain alone (median of 6) | {one:.0} |");
    println!("| two chains, one thread each (sum, median of 3) | {two:.0} |");
    println!("| ratio (target >= 1.7 on 2 cores) | {:.2} |", two / one);
    kern.shutdown();
}
