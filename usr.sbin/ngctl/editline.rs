//! Line editing for interactive mode on a terminal, in the spirit of the
//! libedit(3) editor FreeBSD's ngctl uses.
//!
//! The editing itself is a pure state machine: a [`Decoder`] turns the bytes
//! typed into [`Key`]s, an [`Editor`] turns keys into changes of its buffer and
//! cursor and tells what the screen needs ([`Action`]), and [`render`] draws
//! the prompt and line.  [`LineEditor`] is the thin terminal layer around them:
//! raw mode through termios (undone when a line is read, at exit, and on
//! `SIGINT`, `SIGTERM`, `SIGHUP` and `SIGQUIT`), waiting for keys with
//! `poll(2)`, and running an idle callback every [`IDLE_INTERVAL`] so that what
//! arrives on the netgraph sockets is printed while the user types.
//!
//! Keys: printable characters insert at the cursor; Backspace (and Ctrl-H)
//! deletes before it, Delete under it; Left/Right (Ctrl-B/Ctrl-F) move,
//! Home/End and Ctrl-A/Ctrl-E go to the ends; Ctrl-U kills to the start of the
//! line, Ctrl-K to its end, Ctrl-W the word before the cursor; Up/Down
//! (Ctrl-P/Ctrl-N) walk this session's history; Enter accepts the line; Ctrl-D
//! on an empty line is end of file (elsewhere it deletes under the cursor);
//! Ctrl-C discards the line; Ctrl-L clears the screen and redraws.

use std::io::{self, Write};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

/// How often the idle callback runs while waiting for keys.
pub const IDLE_INTERVAL: Duration = Duration::from_millis(200);
/// How many lines the history keeps (FreeBSD's ngctl keeps 100).
pub const HISTORY_SIZE: usize = 100;
/// Longest escape sequence taken before it is given up as garbage.
const MAX_SEQ: usize = 16;
/// Terminal width assumed when the terminal does not tell.
const DEFAULT_COLS: usize = 80;

/// What a key (or key sequence) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Return or Enter (`^M`, `^J`).
    Enter,
    /// Backspace (`^?`, `^H`).
    Backspace,
    /// Delete (`ESC [ 3 ~`).
    Delete,
    /// Left arrow or `^B`.
    Left,
    /// Right arrow or `^F`.
    Right,
    /// Home or `^A`.
    Home,
    /// End or `^E`.
    End,
    /// Up arrow or `^P`.
    Up,
    /// Down arrow or `^N`.
    Down,
    /// `^U`: kill from the start of the line to the cursor.
    KillToStart,
    /// `^K`: kill from the cursor to the end of the line.
    KillToEnd,
    /// `^W`: kill the word before the cursor.
    KillWord,
    /// `^D`: end of file on an empty line, else delete under the cursor.
    Eof,
    /// `^C`: discard the line.
    Interrupt,
    /// `^L`: clear the screen and redraw.
    ClearScreen,
    /// Anything else (unbound control characters, unknown sequences, bad UTF-8).
    Other,
}

/// Turns the bytes read from the terminal into [`Key`]s: control characters,
/// `ESC [` and `ESC O` sequences, and UTF-8.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The bytes of a sequence not complete yet.
    pending: Vec<u8>,
}

/// The key a control character (or `DEL`) stands for.
fn control_key(b: u8) -> Key {
    match b {
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::Interrupt,
        0x04 => Key::Eof,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x08 | 0x7f => Key::Backspace,
        0x0a | 0x0d => Key::Enter,
        0x0b => Key::KillToEnd,
        0x0c => Key::ClearScreen,
        0x0e => Key::Down,
        0x10 => Key::Up,
        0x15 => Key::KillToStart,
        0x17 => Key::KillWord,
        _ => Key::Other,
    }
}

/// How many bytes a UTF-8 sequence starting with `b` has (`None`: `b` cannot
/// start one).
fn utf8_len(b: u8) -> Option<usize> {
    match b {
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Whether a sequence has been started but not finished.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Take one byte; the key it completes, if any.
    pub fn feed(&mut self, b: u8) -> Option<Key> {
        let Some(&first) = self.pending.first() else {
            return match b {
                0x1b => {
                    self.pending.push(b);
                    None
                }
                0x20..=0x7e => Some(Key::Char(char::from(b))),
                0x00..=0x1f | 0x7f => Some(control_key(b)),
                _ if utf8_len(b).is_some() => {
                    self.pending.push(b);
                    None
                }
                _ => Some(Key::Other),
            };
        };
        self.pending.push(b);
        if first == 0x1b {
            self.feed_escape()
        } else {
            self.feed_utf8(first)
        }
    }

    /// Give up on an unfinished sequence (nothing more came for a while): a
    /// lone `ESC` or a cut-off sequence is [`Key::Other`].
    pub fn timeout(&mut self) -> Option<Key> {
        if self.pending.is_empty() {
            None
        } else {
            self.pending.clear();
            Some(Key::Other)
        }
    }

    /// The next byte of an escape sequence has been pushed.
    fn feed_escape(&mut self) -> Option<Key> {
        let p = &self.pending;
        let last = p[p.len() - 1];
        if p.len() == 2 {
            if last == b'[' || last == b'O' {
                return None;
            }
            // ESC and some other key (Meta-x): not bound.
            self.pending.clear();
            return Some(Key::Other);
        }
        let key = if p[1] == b'O' {
            match last {
                b'A' => Key::Up,
                b'B' => Key::Down,
                b'C' => Key::Right,
                b'D' => Key::Left,
                b'H' => Key::Home,
                b'F' => Key::End,
                _ => Key::Other,
            }
        } else if (0x20..=0x3f).contains(&last) {
            // Parameter and intermediate bytes of a CSI sequence.
            if p.len() < MAX_SEQ {
                return None;
            }
            Key::Other
        } else if (0x40..=0x7e).contains(&last) {
            let params = &p[2..p.len() - 1];
            let first_param = params.split(|&c| c == b';').next().unwrap_or(&[]);
            match (last, first_param) {
                (b'A', _) => Key::Up,
                (b'B', _) => Key::Down,
                (b'C', _) => Key::Right,
                (b'D', _) => Key::Left,
                (b'H', _) => Key::Home,
                (b'F', _) => Key::End,
                (b'~', b"1" | b"7") => Key::Home,
                (b'~', b"4" | b"8") => Key::End,
                (b'~', b"3") => Key::Delete,
                _ => Key::Other,
            }
        } else {
            // A control character inside the sequence: garbage.
            Key::Other
        };
        self.pending.clear();
        Some(key)
    }

    /// The next byte of a UTF-8 sequence starting with `first` has been pushed.
    fn feed_utf8(&mut self, first: u8) -> Option<Key> {
        let last = self.pending[self.pending.len() - 1];
        if last & 0xc0 != 0x80 {
            self.pending.clear();
            return Some(Key::Other);
        }
        if Some(self.pending.len()) != utf8_len(first) {
            return None;
        }
        let key = match std::str::from_utf8(&self.pending)
            .ok()
            .and_then(|s| s.chars().next())
        {
            Some(c) if !c.is_control() => Key::Char(c),
            _ => Key::Other,
        };
        self.pending.clear();
        Some(key)
    }
}

/// What the terminal must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    Nothing,
    /// The key does nothing here: ring the bell.
    Bell,
    /// Draw the line again (its text or the cursor moved).
    Redraw,
    /// Clear the screen, then draw the line.
    ClearScreen,
    /// The line is done; the editor is empty again.
    Accept(String),
    /// The line was discarded (`^C`); the editor is empty again.
    Cancel,
    /// End of input.
    Eof,
}

/// The line being edited, its cursor and this session's history.
#[derive(Debug, Default)]
pub struct Editor {
    /// The line.
    buf: Vec<char>,
    /// The cursor: an index into `buf` (`buf.len()` is the end).
    pos: usize,
    /// Lines accepted so far, oldest first.
    history: Vec<String>,
    /// The history line shown, if the user walked into the history.
    hist_idx: Option<usize>,
    /// The line being typed before walking into the history.
    saved: Vec<char>,
}

impl Editor {
    /// An empty editor with no history.
    pub fn new() -> Editor {
        Editor::default()
    }

    /// The line being edited.
    pub fn line(&self) -> String {
        self.buf.iter().collect()
    }

    /// The line's characters.
    pub fn chars(&self) -> &[char] {
        &self.buf
    }

    /// The cursor, counted in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        self.pos
    }

    /// The history, oldest first.
    #[cfg(test)]
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Remember a line for Up/Down: blank lines and repeats of the newest line
    /// are not kept, and only the newest [`HISTORY_SIZE`] lines are.
    pub fn add_history(&mut self, line: &str) {
        if line.trim().is_empty() || self.history.last().is_some_and(|l| l == line) {
            return;
        }
        self.history.push(line.to_string());
        if self.history.len() > HISTORY_SIZE {
            let extra = self.history.len() - HISTORY_SIZE;
            self.history.drain(..extra);
        }
    }

    /// Start an empty line.
    fn reset(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.hist_idx = None;
        self.saved.clear();
    }

    /// Show `line` with the cursor at its end.
    fn set_line(&mut self, line: Vec<char>) {
        self.buf = line;
        self.pos = self.buf.len();
    }

    /// Handle one key.
    pub fn key(&mut self, k: Key) -> Action {
        match k {
            Key::Char(c) => {
                self.buf.insert(self.pos, c);
                self.pos += 1;
                Action::Redraw
            }
            Key::Enter => {
                let line = self.line();
                self.add_history(&line);
                self.reset();
                Action::Accept(line)
            }
            Key::Backspace => {
                if self.pos == 0 {
                    return Action::Bell;
                }
                self.pos -= 1;
                self.buf.remove(self.pos);
                Action::Redraw
            }
            Key::Delete => self.delete_under(),
            Key::Eof => {
                if self.buf.is_empty() {
                    Action::Eof
                } else {
                    self.delete_under()
                }
            }
            Key::Left => {
                if self.pos == 0 {
                    return Action::Bell;
                }
                self.pos -= 1;
                Action::Redraw
            }
            Key::Right => {
                if self.pos == self.buf.len() {
                    return Action::Bell;
                }
                self.pos += 1;
                Action::Redraw
            }
            Key::Home => self.move_to(0),
            Key::End => self.move_to(self.buf.len()),
            Key::KillToStart => {
                if self.pos == 0 {
                    return Action::Nothing;
                }
                self.buf.drain(..self.pos);
                self.pos = 0;
                Action::Redraw
            }
            Key::KillToEnd => {
                if self.pos == self.buf.len() {
                    return Action::Nothing;
                }
                self.buf.truncate(self.pos);
                Action::Redraw
            }
            Key::KillWord => {
                let mut i = self.pos;
                while i > 0 && self.buf[i - 1].is_whitespace() {
                    i -= 1;
                }
                while i > 0 && !self.buf[i - 1].is_whitespace() {
                    i -= 1;
                }
                if i == self.pos {
                    return Action::Nothing;
                }
                self.buf.drain(i..self.pos);
                self.pos = i;
                Action::Redraw
            }
            Key::Up => {
                let idx = match self.hist_idx {
                    None if self.history.is_empty() => return Action::Bell,
                    None => {
                        self.saved = std::mem::take(&mut self.buf);
                        self.history.len() - 1
                    }
                    Some(0) => return Action::Bell,
                    Some(i) => i - 1,
                };
                self.hist_idx = Some(idx);
                self.set_line(self.history[idx].chars().collect());
                Action::Redraw
            }
            Key::Down => match self.hist_idx {
                None => Action::Bell,
                Some(i) if i + 1 < self.history.len() => {
                    self.hist_idx = Some(i + 1);
                    self.set_line(self.history[i + 1].chars().collect());
                    Action::Redraw
                }
                Some(_) => {
                    self.hist_idx = None;
                    let saved = std::mem::take(&mut self.saved);
                    self.set_line(saved);
                    Action::Redraw
                }
            },
            Key::Interrupt => {
                self.reset();
                Action::Cancel
            }
            Key::ClearScreen => Action::ClearScreen,
            Key::Other => Action::Bell,
        }
    }

    /// Delete the character under the cursor.
    fn delete_under(&mut self) -> Action {
        if self.pos == self.buf.len() {
            return Action::Bell;
        }
        self.buf.remove(self.pos);
        Action::Redraw
    }

    /// Put the cursor at `pos`.
    fn move_to(&mut self, pos: usize) -> Action {
        if self.pos == pos {
            return Action::Nothing;
        }
        self.pos = pos;
        Action::Redraw
    }
}

/// What draws `prompt` and `line` with the cursor before `line[pos]` on a
/// terminal `cols` wide: back to the first column, the prompt, the part of the
/// line that fits (scrolled sideways so the cursor stays in view, the last
/// column left free), erase to the end of the screen line, and put the cursor
/// in place.
pub fn render(prompt: &str, line: &[char], pos: usize, cols: usize) -> String {
    let plen = prompt.chars().count();
    let pos = pos.min(line.len());
    let avail = cols.max(plen + 2) - plen - 1;
    let start = pos.saturating_sub(avail);
    let end = (start + avail).min(line.len());
    let mut s = String::from("\r");
    s.push_str(prompt);
    s.extend(&line[start..end]);
    s.push_str("\x1b[K\r");
    let col = plen + pos - start;
    if col > 0 {
        s.push_str(&format!("\x1b[{col}C"));
    }
    s
}

/// The terminal settings before raw mode, for whoever has to restore them.
static ORIG_TERMIOS: OnceLock<libc::termios> = OnceLock::new();
/// Whether the terminal is in raw mode now.
static RAW_ACTIVE: AtomicBool = AtomicBool::new(false);
/// Installs the exit and signal handlers once.
static HANDLERS: Once = Once::new();
/// The signals after which the terminal is restored before dying.
const FATAL_SIGNALS: [c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Put the terminal back as it was, if raw mode is on (async-signal-safe).
fn restore_terminal() {
    if RAW_ACTIVE.swap(false, Ordering::SeqCst) {
        if let Some(t) = ORIG_TERMIOS.get() {
            // SAFETY: `t` is a valid termios read by tcgetattr.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
            }
        }
    }
}

/// `atexit(3)` handler: `exit` (as `errx` calls it) leaves a sane terminal.
extern "C" fn restore_at_exit() {
    restore_terminal();
}

/// Fatal signal handler: restore the terminal, then die of the signal as if
/// there were no handler.
extern "C" fn restore_on_signal(sig: c_int) {
    restore_terminal();
    // SAFETY: signal(2) and raise(3) are async-signal-safe; the re-raised
    // signal is delivered with the default action once the handler returns.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Install the `atexit` handler and the fatal signal handlers (leaving alone
/// signals that are ignored, as under nohup(1)).
fn install_handlers() {
    HANDLERS.call_once(|| {
        // SAFETY: registering a plain extern "C" function with atexit and
        // sigaction; the sigaction structs are zero-initialised then filled in.
        unsafe {
            libc::atexit(restore_at_exit);
            for sig in FATAL_SIGNALS {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = restore_on_signal as extern "C" fn(c_int) as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                sa.sa_flags = 0;
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

/// The terminal's width in columns.
fn term_cols() -> usize {
    // SAFETY: TIOCGWINSZ fills in a winsize struct we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        DEFAULT_COLS
    }
}

/// Write `s` to standard output now.
fn out(s: &str) {
    let mut o = io::stdout();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Raw mode for as long as it lives.
struct RawMode;

impl RawMode {
    /// Switch standard input to raw mode: no echo, no line buffering, no
    /// signals from `^C`/`^\`/`^Z`, no flow control and no CR→NL on input;
    /// output processing stays on so `\n` still starts a line.
    fn enter(orig: &libc::termios) -> io::Result<RawMode> {
        let mut raw = *orig;
        raw.c_iflag &= !(libc::BRKINT | libc::ICRNL | libc::INPCK | libc::ISTRIP | libc::IXON);
        raw.c_cflag |= libc::CS8;
        raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::IEXTEN | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // Mark raw mode first, so a signal arriving meanwhile still restores.
        RAW_ACTIVE.store(true, Ordering::SeqCst);
        // SAFETY: `raw` is a valid termios derived from tcgetattr's.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &raw) } != 0 {
            let e = io::Error::last_os_error();
            RAW_ACTIVE.store(false, Ordering::SeqCst);
            return Err(e);
        }
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if RAW_ACTIVE.swap(false, Ordering::SeqCst) {
            if let Some(t) = ORIG_TERMIOS.get() {
                // SAFETY: `t` is a valid termios read by tcgetattr.
                unsafe {
                    libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, t);
                }
            }
        }
    }
}

/// Reads lines from the terminal on standard input with editing.
pub struct LineEditor {
    /// The editing state machine.
    editor: Editor,
    /// Key decoding state.
    decoder: Decoder,
    /// Bytes read but not decoded yet (type-ahead after an accepted line).
    pending: std::collections::VecDeque<u8>,
    /// The line changed since it was last drawn (keys read together, as in a
    /// paste, are drawn once).
    dirty: bool,
}

/// How the idle callback is given the means to clear the line: it calls the
/// function before printing anything, so the output does not mix with the line
/// being edited (which is drawn again afterwards).
pub type ClearLine<'a> = &'a mut dyn FnMut();

impl LineEditor {
    /// An editor for standard input, which must be a terminal; installs the
    /// handlers that restore the terminal at exit and on fatal signals.
    pub fn new() -> io::Result<LineEditor> {
        // SAFETY: tcgetattr fills in a termios struct we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let _ = ORIG_TERMIOS.set(t);
        install_handlers();
        Ok(LineEditor {
            editor: Editor::new(),
            decoder: Decoder::new(),
            pending: Default::default(),
            dirty: false,
        })
    }

    /// Read one line after `prompt` (without its newline); `None` at end of
    /// input.  While no key comes, `idle` runs every [`IDLE_INTERVAL`] with a
    /// [`ClearLine`] to call before it prints.  The terminal is in raw mode
    /// only during the call.
    pub fn read_line(
        &mut self,
        prompt: &str,
        idle: &mut dyn FnMut(ClearLine<'_>),
    ) -> io::Result<Option<String>> {
        let orig = ORIG_TERMIOS
            .get()
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let _raw = RawMode::enter(&orig)?;
        self.redraw(prompt);
        let mut next_idle = Instant::now() + IDLE_INTERVAL;
        loop {
            while let Some(b) = self.pending.pop_front() {
                if let Some(k) = self.decoder.feed(b) {
                    if let Some(r) = self.handle(prompt, k) {
                        return Ok(r);
                    }
                }
            }
            if self.dirty {
                self.redraw(prompt);
            }
            let now = Instant::now();
            if now >= next_idle {
                let mut cleared = false;
                idle(&mut || {
                    if !cleared {
                        cleared = true;
                        out("\r\x1b[K");
                    }
                });
                if cleared {
                    self.redraw(prompt);
                }
                next_idle = Instant::now() + IDLE_INTERVAL;
                continue;
            }
            let wait = next_idle - now;
            let ms = c_int::try_from(wait.as_millis())
                .unwrap_or(c_int::MAX)
                .max(1);
            let mut pfd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                // A lone ESC (or a cut-off sequence) that nothing followed.
                if !self.decoder.is_pending() {
                    continue;
                }
                if let Some(k) = self.decoder.timeout() {
                    if let Some(r) = self.handle(prompt, k) {
                        return Ok(r);
                    }
                }
                continue;
            }
            let mut buf = [0u8; 256];
            // SAFETY: reading into a buffer we own, no longer than it.
            let got = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
            match usize::try_from(got) {
                Ok(0) => {
                    // Hang-up: the terminal is gone.
                    return Ok(None);
                }
                Ok(len) => self.pending.extend(&buf[..len]),
                Err(_) => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {}
                        _ if e.raw_os_error() == Some(libc::EIO) => return Ok(None),
                        _ => return Err(e),
                    }
                }
            }
        }
    }

    /// Draw the prompt and the line.
    fn redraw(&mut self, prompt: &str) {
        self.dirty = false;
        out(&render(
            prompt,
            self.editor.chars(),
            self.editor.cursor(),
            term_cols(),
        ));
    }

    /// Do what a key asks; `Some` when [`LineEditor::read_line`] is done.
    fn handle(&mut self, prompt: &str, k: Key) -> Option<Option<String>> {
        // The line as it stands stays on the screen above a discarded one.
        if k == Key::Interrupt && self.dirty {
            self.redraw(prompt);
        }
        match self.editor.key(k) {
            Action::Nothing => None,
            Action::Bell => {
                out("\x07");
                None
            }
            Action::Redraw => {
                self.dirty = true;
                None
            }
            Action::ClearScreen => {
                out("\x1b[H\x1b[2J");
                self.redraw(prompt);
                None
            }
            Action::Accept(line) => {
                self.dirty = false;
                let chars: Vec<char> = line.chars().collect();
                out(&render(prompt, &chars, chars.len(), term_cols()));
                out("\r\n");
                Some(Some(line))
            }
            Action::Cancel => {
                out("^C\r\n");
                self.redraw(prompt);
                None
            }
            Action::Eof => {
                if self.dirty {
                    self.redraw(prompt);
                }
                Some(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode all of `bytes`.
    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut d = Decoder::new();
        bytes.iter().filter_map(|&b| d.feed(b)).collect()
    }

    /// An editor after typing `text` and then `ks`.
    fn typed(text: &str, ks: &[Key]) -> Editor {
        let mut e = Editor::new();
        for c in text.chars() {
            assert_eq!(e.key(Key::Char(c)), Action::Redraw);
        }
        for &k in ks {
            e.key(k);
        }
        e
    }

    #[test]
    fn decode_printable_and_utf8() {
        assert_eq!(
            keys(b"a Z~"),
            vec![
                Key::Char('a'),
                Key::Char(' '),
                Key::Char('Z'),
                Key::Char('~')
            ]
        );
        assert_eq!(
            keys("é€😀".as_bytes()),
            vec![Key::Char('é'), Key::Char('€'), Key::Char('😀')]
        );
        // Bad UTF-8: a stray continuation byte, a cut-off sequence, a C1 control.
        assert_eq!(keys(b"\x80"), vec![Key::Other]);
        assert_eq!(keys(b"\xc3a"), vec![Key::Other]);
        assert_eq!(keys(b"\xc2\x85"), vec![Key::Other]);
        assert_eq!(keys(b"\xff"), vec![Key::Other]);
    }

    #[test]
    fn decode_control_characters() {
        let table = [
            (0x01, Key::Home),
            (0x02, Key::Left),
            (0x03, Key::Interrupt),
            (0x04, Key::Eof),
            (0x05, Key::End),
            (0x06, Key::Right),
            (0x08, Key::Backspace),
            (0x7f, Key::Backspace),
            (0x0a, Key::Enter),
            (0x0d, Key::Enter),
            (0x0b, Key::KillToEnd),
            (0x0c, Key::ClearScreen),
            (0x0e, Key::Down),
            (0x10, Key::Up),
            (0x15, Key::KillToStart),
            (0x17, Key::KillWord),
            (0x09, Key::Other),
            (0x1a, Key::Other),
            (0x00, Key::Other),
        ];
        for (b, k) in table {
            assert_eq!(keys(&[b]), vec![k], "byte {b:#x}");
        }
    }

    #[test]
    fn decode_escape_sequences() {
        let table: [(&[u8], Key); 20] = [
            (b"\x1b[A", Key::Up),
            (b"\x1b[B", Key::Down),
            (b"\x1b[C", Key::Right),
            (b"\x1b[D", Key::Left),
            (b"\x1b[H", Key::Home),
            (b"\x1b[F", Key::End),
            (b"\x1bOA", Key::Up),
            (b"\x1bOB", Key::Down),
            (b"\x1bOC", Key::Right),
            (b"\x1bOD", Key::Left),
            (b"\x1bOH", Key::Home),
            (b"\x1bOF", Key::End),
            (b"\x1b[1~", Key::Home),
            (b"\x1b[7~", Key::Home),
            (b"\x1b[4~", Key::End),
            (b"\x1b[8~", Key::End),
            (b"\x1b[3~", Key::Delete),
            (b"\x1b[1;5C", Key::Right),
            (b"\x1b[15~", Key::Other),
            (b"\x1bOP", Key::Other),
        ];
        for (seq, k) in table {
            assert_eq!(keys(seq), vec![k], "{seq:?}");
        }
        // Meta-x, garbage inside a sequence, an endless sequence.
        assert_eq!(keys(b"\x1bxa"), vec![Key::Other, Key::Char('a')]);
        assert_eq!(keys(b"\x1b[\x01a"), vec![Key::Other, Key::Char('a')]);
        assert_eq!(
            keys(&[b"\x1b[".as_slice(), &[b'1'; 20]].concat()).first(),
            Some(&Key::Other)
        );
        // Keys run together in one read.
        assert_eq!(
            keys(b"a\x1b[Db\r"),
            vec![Key::Char('a'), Key::Left, Key::Char('b'), Key::Enter]
        );
    }

    #[test]
    fn decode_timeout() {
        let mut d = Decoder::new();
        assert_eq!(d.timeout(), None);
        assert_eq!(d.feed(0x1b), None);
        assert!(d.is_pending());
        assert_eq!(d.timeout(), Some(Key::Other));
        assert!(!d.is_pending());
        assert_eq!(d.feed(b'['), Some(Key::Char('[')));
        assert_eq!(d.feed(0xc3), None);
        assert_eq!(d.timeout(), Some(Key::Other));
    }

    #[test]
    fn insert_at_cursor() {
        let e = typed("lst", &[Key::Left, Key::Left, Key::Char('i')]);
        assert_eq!((e.line().as_str(), e.cursor()), ("list", 2));
        let e = typed("ist", &[Key::Home, Key::Char('l')]);
        assert_eq!((e.line().as_str(), e.cursor()), ("list", 1));
        let e = typed("héllo", &[]);
        assert_eq!((e.line().as_str(), e.cursor()), ("héllo", 5));
    }

    #[test]
    fn enter_accepts_and_clears() {
        let mut e = typed("list -l", &[Key::Left]);
        assert_eq!(e.key(Key::Enter), Action::Accept("list -l".into()));
        assert_eq!((e.line().as_str(), e.cursor()), ("", 0));
        assert_eq!(e.history(), ["list -l"]);
        // An empty line is accepted but not remembered.
        assert_eq!(e.key(Key::Enter), Action::Accept(String::new()));
        assert_eq!(e.history().len(), 1);
    }

    #[test]
    fn backspace_and_delete() {
        let mut e = typed("abc", &[]);
        assert_eq!(e.key(Key::Backspace), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("ab", 2));
        assert_eq!(e.key(Key::Delete), Action::Bell);
        e.key(Key::Home);
        assert_eq!(e.key(Key::Backspace), Action::Bell);
        assert_eq!(e.key(Key::Delete), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("b", 0));
        let mut e = typed("abc", &[Key::Left]);
        assert_eq!(e.key(Key::Backspace), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("ac", 1));
    }

    #[test]
    fn cursor_motion() {
        let mut e = typed("ab", &[]);
        assert_eq!(e.key(Key::Right), Action::Bell);
        assert_eq!(e.key(Key::Left), Action::Redraw);
        assert_eq!(e.cursor(), 1);
        assert_eq!(e.key(Key::Left), Action::Redraw);
        assert_eq!(e.key(Key::Left), Action::Bell);
        assert_eq!(e.cursor(), 0);
        assert_eq!(e.key(Key::Right), Action::Redraw);
        assert_eq!(e.cursor(), 1);
        assert_eq!(e.key(Key::End), Action::Redraw);
        assert_eq!(e.cursor(), 2);
        assert_eq!(e.key(Key::End), Action::Nothing);
        assert_eq!(e.key(Key::Home), Action::Redraw);
        assert_eq!(e.key(Key::Home), Action::Nothing);
        assert_eq!(e.cursor(), 0);
        assert_eq!(e.line(), "ab");
    }

    #[test]
    fn kills() {
        let mut e = typed("show foo:", &[Key::Left, Key::Left, Key::Left, Key::Left]);
        assert_eq!(e.key(Key::KillToStart), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("foo:", 0));
        assert_eq!(e.key(Key::KillToStart), Action::Nothing);

        let mut e = typed("show foo:", &[Key::Home, Key::Right, Key::Right]);
        assert_eq!(e.key(Key::KillToEnd), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("sh", 2));
        assert_eq!(e.key(Key::KillToEnd), Action::Nothing);

        let mut e = typed("msg  foo:  getstats  ", &[]);
        assert_eq!(e.key(Key::KillWord), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("msg  foo:  ", 11));
        e.key(Key::Left);
        assert_eq!(e.key(Key::KillWord), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("msg   ", 5));
        assert_eq!(e.key(Key::KillWord), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), (" ", 0));
        assert_eq!(e.key(Key::KillWord), Action::Nothing);
    }

    #[test]
    fn ctrl_d() {
        let mut e = Editor::new();
        assert_eq!(e.key(Key::Eof), Action::Eof);
        let mut e = typed("ab", &[]);
        assert_eq!(e.key(Key::Eof), Action::Bell);
        e.key(Key::Home);
        assert_eq!(e.key(Key::Eof), Action::Redraw);
        assert_eq!(e.line(), "b");
    }

    #[test]
    fn ctrl_c_and_ctrl_l() {
        let mut e = typed("garbage", &[Key::Left]);
        assert_eq!(e.key(Key::ClearScreen), Action::ClearScreen);
        assert_eq!(e.line(), "garbage");
        assert_eq!(e.key(Key::Interrupt), Action::Cancel);
        assert_eq!((e.line().as_str(), e.cursor()), ("", 0));
        assert!(e.history().is_empty());
        assert_eq!(e.key(Key::Other), Action::Bell);
    }

    #[test]
    fn history_walk() {
        let mut e = Editor::new();
        assert_eq!(e.key(Key::Up), Action::Bell);
        assert_eq!(e.key(Key::Down), Action::Bell);
        for l in ["one", "two", "two", " ", "three"] {
            e.add_history(l);
        }
        assert_eq!(e.history(), ["one", "two", "three"]);
        for c in "partial".chars() {
            e.key(Key::Char(c));
        }
        assert_eq!(e.key(Key::Up), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("three", 5));
        e.key(Key::Up);
        e.key(Key::Up);
        assert_eq!(e.line(), "one");
        assert_eq!(e.key(Key::Up), Action::Bell);
        assert_eq!(e.key(Key::Down), Action::Redraw);
        assert_eq!(e.line(), "two");
        e.key(Key::Down);
        assert_eq!(e.line(), "three");
        // Past the newest: the line that was being typed comes back.
        assert_eq!(e.key(Key::Down), Action::Redraw);
        assert_eq!((e.line().as_str(), e.cursor()), ("partial", 7));
        assert_eq!(e.key(Key::Down), Action::Bell);
        // A recalled line can be edited and accepted; the history keeps both.
        e.key(Key::Up);
        e.key(Key::Backspace);
        assert_eq!(e.key(Key::Enter), Action::Accept("thre".into()));
        assert_eq!(e.history(), ["one", "two", "three", "thre"]);
        assert_eq!(e.key(Key::Up), Action::Redraw);
        assert_eq!(e.line(), "thre");
    }

    #[test]
    fn history_is_bounded() {
        let mut e = Editor::new();
        for i in 0..HISTORY_SIZE + 10 {
            e.add_history(&format!("cmd {i}"));
        }
        assert_eq!(e.history().len(), HISTORY_SIZE);
        assert_eq!(e.history()[0], "cmd 10");
    }

    #[test]
    fn rendering() {
        let l: Vec<char> = "list".chars().collect();
        assert_eq!(render("+ ", &l, 4, 80), "\r+ list\x1b[K\r\x1b[6C");
        assert_eq!(render("+ ", &l, 0, 80), "\r+ list\x1b[K\r\x1b[2C");
        assert_eq!(render("", &[], 0, 80), "\r\x1b[K\r");
        // Too long for 10 columns: 7 characters fit after the prompt, and the
        // line scrolls so the cursor stays in view.
        let l: Vec<char> = "abcdefghijkl".chars().collect();
        assert_eq!(render("+ ", &l, 0, 10), "\r+ abcdefg\x1b[K\r\x1b[2C");
        assert_eq!(render("+ ", &l, 7, 10), "\r+ abcdefg\x1b[K\r\x1b[9C");
        assert_eq!(render("+ ", &l, 12, 10), "\r+ fghijkl\x1b[K\r\x1b[9C");
        assert_eq!(render("+ ", &l, 8, 10), "\r+ bcdefgh\x1b[K\r\x1b[9C");
        // A cursor past the end is taken as the end; a silly width still works.
        assert_eq!(render("+ ", &l, 99, 10), render("+ ", &l, 12, 10));
        assert_eq!(render("+ ", &l, 12, 0), "\r+ l\x1b[K\r\x1b[3C");
    }
}
