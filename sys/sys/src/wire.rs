//! Byte-level encoding used on the syscall socket.
//!
//! Integers are little-endian; strings and blobs carry a `u32` length prefix.
//! [`Reader`] is the only way untrusted bytes are read: every accessor checks the
//! remaining length and returns `EINVAL` instead of panicking.

use crate::Errno;

/// Largest frame accepted on the syscall socket (1 MiB): a bound on hostile lengths.
pub const MAX_FRAME: usize = 1 << 20;

/// Appends encoded fields to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Append one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Append a little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Append a little-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Append a little-endian i32.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Append a little-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Append a little-endian i64.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Append a length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
        self
    }
    /// Append a length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// Append raw bytes with no prefix (fixed-size struct images).
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Append an optional blob: a presence byte, then the blob.
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(b) => self.u8(1).bytes(b),
            None => self.u8(0),
        }
    }
    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// A checked cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// Take exactly `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Errno> {
        if n > self.buf.len() {
            return Err(Errno::EINVAL);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], Errno> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    /// Read one byte.
    pub fn u8(&mut self) -> Result<u8, Errno> {
        Ok(self.arr::<1>()?[0])
    }
    /// Read a little-endian u16.
    pub fn u16(&mut self) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    /// Read a little-endian u32.
    pub fn u32(&mut self) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    /// Read a little-endian i32.
    pub fn i32(&mut self) -> Result<i32, Errno> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    /// Read a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    /// Read a little-endian i64.
    pub fn i64(&mut self) -> Result<i64, Errno> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    /// Read a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], Errno> {
        let n = self.u32()? as usize;
        if n > MAX_FRAME {
            return Err(Errno::EINVAL);
        }
        self.take(n)
    }
    /// Read a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, Errno> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Errno::EINVAL)
    }
    /// Read an optional blob written by [`Writer::opt_bytes`].
    pub fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, Errno> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            _ => Err(Errno::EINVAL),
        }
    }
    /// Fail with `EINVAL` unless every byte was consumed.
    pub fn end(&self) -> Result<(), Errno> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }
}

/// Copy `s` into a fixed NUL-padded C string field; `ENAMETOOLONG` if it does not fit
/// with its terminating NUL.
pub fn put_cstr(field: &mut [u8], s: &str) -> Result<(), Errno> {
    let b = s.as_bytes();
    if b.len() >= field.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    if b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    field.fill(0);
    field[..b.len()].copy_from_slice(b);
    Ok(())
}

/// Read a NUL-terminated string out of a fixed field; `EINVAL` if unterminated or not UTF-8.
pub fn get_cstr(field: &[u8]) -> Result<&str, Errno> {
    let n = field.iter().position(|&c| c == 0).ok_or(Errno::EINVAL)?;
    std::str::from_utf8(&field[..n]).map_err(|_| Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = Writer::new();
        w.u8(7)
            .u16(0x1234)
            .u32(42)
            .i64(-5)
            .str("hé")
            .opt_bytes(None);
        w.opt_bytes(Some(b"xy"));
        let b = w.finish();
        let mut r = Reader::new(&b);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0x1234);
        assert_eq!(r.u32().unwrap(), 42);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.str().unwrap(), "hé");
        assert_eq!(r.opt_bytes().unwrap(), None);
        assert_eq!(r.opt_bytes().unwrap(), Some(&b"xy"[..]));
        r.end().unwrap();
    }

    #[test]
    fn truncation_is_einval() {
        let mut r = Reader::new(&[1, 0]);
        assert_eq!(r.u32(), Err(Errno::EINVAL));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.bytes(), Err(Errno::EINVAL));
        let mut r = Reader::new(&[2]);
        assert_eq!(r.opt_bytes(), Err(Errno::EINVAL));
    }

    #[test]
    fn cstr_fields() {
        let mut f = [0u8; 4];
        put_cstr(&mut f, "abc").unwrap();
        assert_eq!(get_cstr(&f).unwrap(), "abc");
        assert_eq!(put_cstr(&mut f, "abcd"), Err(Errno::ENAMETOOLONG));
        assert_eq!(get_cstr(&[b'a'; 4]), Err(Errno::EINVAL));
    }
}
