//! Benchmark: UDP forwarding through a chain of K router vimages (K = 1, 8, 32)
//! and the same chain built from Linux network namespaces, measured the same way
//! in the same run; prints a table.  `cargo bench --bench forwarding_chain`.

mod linux_chain;
mod vimage_chain;

const DATAGRAMS: u32 = 100_000;
const LEN: usize = 64;

fn main() {
    println!(
        "| chain | K | datagrams/s ({LEN}-byte UDP) | UDP round trip (median) | ping round trip |"
    );
    println!("|---|---|---|---|---|");
    for k in [1usize, 8, 32] {
        let (pps, rtt, ping) = vimage_chain::measure(k, DATAGRAMS, LEN);
        println!("| vimages + eifaces | {k} | {pps:.0} | {rtt:.1} µs | {ping:.1} µs (median) |");
        match linux_chain::unavailable() {
            Some(why) => println!("| Linux netns + veth | {k} | ({why}) | | |"),
            None => match linux_chain::measure(k, DATAGRAMS, LEN) {
                Some((pps, rtt, ping)) => println!(
                    "| Linux netns + veth | {k} | {pps:.0} | {rtt:.1} µs | {ping:.1} µs (avg) |"
                ),
                None => println!("| Linux netns + veth | {k} | (setup failed) | | |"),
            },
        }
    }
}
