//! What the node types share for their statistics: the `getstats` / `clrstats`
//! / `getclrstats` command triple, and counter records whose ASCII layout is a
//! struct of `u64` fields.
//!
//! A type keeps its counters as plain `[u64; N]` arrays in the order of its
//! stats layout's fields; [`counters`] names them after the layout, and
//! [`StatsCmd::apply`] answers the three commands the same way everywhere
//! (the reply is taken before the counters are cleared).

use vimage_abi::Errno;

use crate::ng_parse::{self, NgParseType, NgValue};

/// A struct layout of `u64` counters: `u64_fields!("inOctets", "inFrames")`.
macro_rules! u64_fields {
    ($($n:expr),* $(,)?) => {
        &[$($crate::ng_parse::NgField { name: $n, ty: $crate::ng_parse::NgParseType::U64 }),*]
    };
}
pub(crate) use u64_fields;

/// One of the three statistics commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsCmd {
    /// `getstats`: reply with the counters.
    Get,
    /// `clrstats`: zero the counters, no reply.
    Clear,
    /// `getclrstats`: reply with the counters, then zero them.
    GetClear,
}

impl StatsCmd {
    /// Which statistics command `cmd` is, given the type's `[getstats, clrstats,
    /// getclrstats]` command numbers.
    pub fn of(cmd: u32, numbers: [u32; 3]) -> Option<StatsCmd> {
        let [get, clear, getclear] = numbers;
        match cmd {
            c if c == get => Some(StatsCmd::Get),
            c if c == clear => Some(StatsCmd::Clear),
            c if c == getclear => Some(StatsCmd::GetClear),
            _ => None,
        }
    }

    /// Answer the command on `stats`: the reply encoded by `encode` (except for
    /// `clrstats`), then the counters reset to their default (except for
    /// `getstats`).
    pub fn apply<S: Default>(
        self,
        stats: &mut S,
        encode: impl FnOnce(&S) -> Result<Vec<u8>, Errno>,
    ) -> Result<Option<Vec<u8>>, Errno> {
        let reply = match self {
            StatsCmd::Clear => None,
            StatsCmd::Get | StatsCmd::GetClear => Some(encode(stats)?),
        };
        if self != StatsCmd::Get {
            *stats = S::default();
        }
        Ok(reply)
    }
}

/// The struct value of `values` named after the fields of the struct layout
/// `ty`, in order (a counter without a field, or a field without a counter, is
/// left out).
pub fn counters(ty: &NgParseType, values: &[u64]) -> NgValue {
    let NgParseType::Struct(fields) = ty else {
        return NgValue::Struct(Vec::new());
    };
    NgValue::record(
        fields
            .iter()
            .zip(values)
            .map(|(f, &v)| (f.name, NgValue::Int(v.into())))
            .collect(),
    )
}

/// [`counters`], encoded in the binary layout of `ty`.
pub fn encode_counters(ty: &NgParseType, values: &[u64]) -> Result<Vec<u8>, Errno> {
    ng_parse::encode(ty, &counters(ty, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: NgParseType = NgParseType::Struct(u64_fields!("a", "b"));

    #[test]
    fn commands_and_counters() {
        assert_eq!(StatsCmd::of(5, [4, 5, 6]), Some(StatsCmd::Clear));
        assert_eq!(StatsCmd::of(7, [4, 5, 6]), None);
        let mut st = [3u64, 4];
        let r = StatsCmd::Get.apply(&mut st, |s| encode_counters(&T, s));
        assert_eq!(
            ng_parse::binary_to_ascii(&T, &r.unwrap().unwrap()).unwrap(),
            "{ a=3 b=4 }"
        );
        assert_eq!(st, [3, 4]);
        let r = StatsCmd::GetClear.apply(&mut st, |s| encode_counters(&T, s));
        assert!(r.unwrap().is_some());
        assert_eq!(st, [0, 0]);
        st = [1, 1];
        assert_eq!(
            StatsCmd::Clear.apply(&mut st, |_| Err(Errno::EIO)),
            Ok(None)
        );
        assert_eq!(st, [0, 0]);
        // An encoding error is returned and nothing is cleared.
        st = [1, 1];
        assert_eq!(
            StatsCmd::GetClear.apply(&mut st, |_| Err(Errno::EIO)),
            Err(Errno::EIO)
        );
        assert_eq!(st, [1, 1]);
    }

    #[test]
    fn shared_layouts_keep_the_c_sizes() {
        use crate::ng_parse::fixed_size;
        let sizes = [
            (&crate::ng_tee::TEE_STATS_TYPE, 4 * 32),
            (&crate::ng_one2many::ONE2MANY_STATS_TYPE, 40),
            (&crate::ng_one2many::ONE2MANY_CONFIG_TYPE, 8 + 64),
            (&crate::ng_bridge::BRIDGE_STATS_TYPE, 14 * 8),
            (&crate::ng_bridge::BRIDGE_CONFIG_TYPE, 32 + 4 + 12),
            (&crate::ng_pipe::PIPE_CFG_TYPE, 24 + 2 * 48),
            (&crate::ng_pipe::PIPE_STATS_TYPE, 2 * 48),
            (&crate::ng_pipe::PIPE_RUN_TYPE, 2 * 20),
            (&crate::ng_base::NG_NODEINFO_TYPE, 72),
        ];
        for (ty, n) in sizes {
            assert_eq!(fixed_size(ty), Some(n), "{ty:?}");
        }
    }
}
