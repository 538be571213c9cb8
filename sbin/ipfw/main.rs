//! ipfw(8): see the library (`ipfw2`) for the commands.

fn main() {
    ipfw::ipfw2::main()
}
