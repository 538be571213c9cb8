//! Hostile tenants against the vimage tree (issue 12), with the real tools:
//! reserved names, nesting bombs, overlong hierarchical names, the
//! `security.vimage.*` limits, and `vimage -l` over many vimages.

mod common;

#[cfg(feature = "vimage")]
mod with_vimage {
    use super::common::*;

    /// The names `vimage -l` prints, in order.
    fn listed(vk: &Vk) -> Vec<String> {
        vk.ok("vimage", &["-l"])
            .lines()
            .filter(|l| l.starts_with('"'))
            .map(|l| l.trim_end_matches(':').trim_matches('"').to_string())
            .collect()
    }

    #[test]
    fn reserved_names_are_refused() {
        let vk = Vk::boot("hreserved");
        for bad in ["default", ".", "..", ".x", "..x", "x.", "a..b"] {
            vk.fails(
                "vimage",
                &["-c", bad],
                &format!("vimage: {bad}: Invalid argument"),
            );
        }
        vk.ok("vimage", &["-c", "n1"]);
        vk.fails(
            "vimage",
            &["n1", "vimage", "-c", "default"],
            "vimage: default: Invalid argument",
        );
        vk.fails(
            "vimage",
            &["-c", "n1.default"],
            "vimage: n1.default: Invalid argument",
        );
        // Nothing was made under another name, and the listing ends.
        assert_eq!(listed(&vk), ["default", "n1"]);
        vk.fails("vimage", &["-d", "default"], "vimage: default: Device busy");
        vk.ok("vimage", &["-d", "n1"]);
        vk.halt();
    }

    #[test]
    fn nesting_is_bounded_by_max_depth() {
        let vk = Vk::boot("hdepth");
        assert_eq!(
            vk.ok("sysctl", &["security.vimage.max_depth"]),
            "security.vimage.max_depth: 32\n"
        );
        let chain = |d: usize| vec!["a"; d].join(".");
        for d in 1..=32 {
            vk.ok("vimage", &["-c", &chain(d)]);
        }
        vk.fails(
            "vimage",
            &["-c", &chain(33)],
            &format!("vimage: {}: Operation not permitted", chain(33)),
        );
        // From inside the deepest one, as a nesting bomb would try.
        vk.fails(
            "vimage",
            &[&chain(32), "vimage", "-c", "a"],
            "vimage: a: Operation not permitted",
        );
        let names = listed(&vk);
        assert_eq!(names.len(), 33);
        assert_eq!(names[32], chain(32));
        for d in (1..=32).rev() {
            vk.ok("vimage", &["-d", &chain(d)]);
        }
        assert_eq!(listed(&vk), ["default"]);
        vk.halt();
    }

    #[test]
    fn full_names_past_255_bytes_are_refused() {
        let vk = Vk::boot("hnames");
        let x = "x".repeat(200);
        let y = "y".repeat(60);
        vk.ok("vimage", &["-c", &x]);
        vk.ok("vimage", &["-c", "z"]);
        // Short relative to the vimage it is made in; 261 bytes in full.
        vk.fails(
            "vimage",
            &[&x, "vimage", "-c", &y],
            &format!("vimage: {y}: File name too long"),
        );
        let y54 = "y".repeat(54);
        vk.ok("vimage", &[&x, "vimage", "-c", &y54]);
        // Every vimage lists, the longest name (255 bytes) included.
        assert_eq!(
            listed(&vk),
            [
                "default".to_string(),
                "z".into(),
                x.clone(),
                format!("{x}.{y54}")
            ]
        );
        vk.halt();
    }

    #[test]
    fn limits_are_set_from_default_only() {
        let vk = Vk::boot("hlimits");
        vk.ok("vimage", &["-c", "n1"]);
        vk.fails(
            "vimage",
            &["n1", "sysctl", "security.vimage.children.max=100000"],
            "sysctl: security.vimage.children.max=100000: Operation not permitted",
        );
        vk.ok("sysctl", &["security.vimage.children.max=2"]);
        vk.ok("vimage", &["n1", "vimage", "-c", "c1"]);
        vk.ok("vimage", &["n1", "vimage", "-c", "c1.c2"]);
        vk.fails(
            "vimage",
            &["n1", "vimage", "-c", "c3"],
            "vimage: c3: Operation not permitted",
        );
        assert_eq!(
            vk.ok(
                "vimage",
                &["n1", "sysctl", "-n", "security.vimage.children.cur"]
            ),
            "2\n"
        );
        assert_eq!(
            vk.ok("sysctl", &["-n", "security.vimage.children.cur"]),
            "3\n"
        );
        vk.ok("sysctl", &["security.vimage.max=3"]);
        vk.fails(
            "vimage",
            &["-c", "n2"],
            "vimage: n2: Operation not permitted",
        );
        vk.ok("vimage", &["-d", "n1.c1.c2"]);
        vk.ok("vimage", &["-c", "n2"]);
        vk.halt();
    }

    #[test]
    fn listing_walks_a_wide_and_deep_tree_once() {
        let vk = Vk::boot("hlist");
        for i in 0..40 {
            vk.ok("vimage", &["-c", &format!("w{i}")]);
        }
        for n in ["w3.a", "w3.b", "w3.a.c", "w0.z"] {
            vk.ok("vimage", &["-c", n]);
        }
        let names = listed(&vk);
        assert_eq!(names.len(), 45);
        assert_eq!(&names[..3], ["default", "w39", "w38"]);
        let i3 = names.iter().position(|n| n == "w3").unwrap();
        assert_eq!(&names[i3..i3 + 5], ["w3", "w3.b", "w3.a", "w3.a.c", "w2"]);
        assert_eq!(&names[names.len() - 2..], ["w0", "w0.z"]);
        // From inside w3, relative names.
        let inside: Vec<String> = vk
            .ok("vimage", &["w3", "vimage", "-l"])
            .lines()
            .filter(|l| l.starts_with('"'))
            .map(String::from)
            .collect();
        assert_eq!(inside, ["\"w3\":", "\"b\":", "\"a\":", "\"a.c\":"]);
        vk.halt();
    }
}
