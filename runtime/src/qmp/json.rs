//! QMP's JSON: the streaming lexer, message splitter and parser of QEMU's
//! `qobject/json-lexer.c`, `qobject/json-streamer.c` and
//! `qobject/json-parser.c`, with their limits and error texts, and the
//! writer of `qobject/qjson.c` (`to_json`, `quoted_str`).
//!
//! Input arrives in arbitrary pieces ([`JsonStreamer::feed`]); every
//! complete top-level value, or the error that ended it, is handed to the
//! caller as soon as its last token is seen. As in QEMU:
//!
//! * single-quoted strings are accepted (`{'execute': 'quit'}`);
//! * a lexical error (`JSON parse error, stray '...'`) discards the
//!   message so far and skips input up to the next structural character
//!   (`{}[],:`) or ASCII control character, where a new message may start;
//! * a message may hold at most 64 MiB of token text (`JSON token size
//!   limit exceeded`), 2 Mi tokens (`JSON token count limit exceeded`) and
//!   nest 1,024 deep (`JSON nesting depth limit exceeded`), so no input
//!   makes memory grow without bound;
//! * a parse error keeps the first problem found (`JSON parse error,
//!   expecting value`, `... duplicate key`, `... invalid keyword 'tru'`).
//!
//! ```
//! use qomgen::qmp::json::JsonStreamer;
//!
//! let mut s = JsonStreamer::new();
//! let mut got = Vec::new();
//! s.feed(b"{'execute': 'quit'}\n{]\n{\"a\": 1", |m| got.push(m));
//! assert_eq!(got[0].as_ref().unwrap()["execute"], "quit");
//! assert_eq!(got[1].as_ref().unwrap_err(), "JSON parse error, expecting value");
//! s.feed(b"}", |m| got.push(m));
//! assert_eq!(got[2].as_ref().unwrap()["a"], 1);
//! ```

use std::ops::Range;

use serde_json::{Map, Number, Value};

/// QEMU's `MAX_TOKEN_SIZE` (lexer and streamer): 64 MiB of token text per message.
pub const MAX_TOKEN_SIZE: usize = 64 << 20;
/// QEMU's `MAX_TOKEN_COUNT`: tokens per message.
pub const MAX_TOKEN_COUNT: usize = 2 << 20;
/// QEMU's `MAX_NESTING`: open brackets and braces per message.
pub const MAX_NESTING: i64 = 1 << 10;

/// A token type of `json-lexer.c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Colon,
    Comma,
    Integer,
    Float,
    Keyword,
    String,
}

/// A state of `json-lexer.c` (`IN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Recovery,
    DqEscape,
    Dq,
    SqEscape,
    Sq,
    Zero,
    ExpDigits,
    ExpSign,
    ExpE,
    Mantissa,
    MantissaDigits,
    Digits,
    Sign,
    Keyword,
    Start,
}

/// What one byte does in a state: the next state, a finished token, or a
/// lexical error; and whether the byte is part of the token
/// (`LOOKAHEAD` clear) or is looked at again from the start state.
#[derive(Debug, Clone, Copy)]
enum Step {
    To(St),
    Token(Tok),
    /// Whitespace: back to the start state, the token text dropped.
    Skip,
    Error,
    /// `IN_RECOVERY` ends: the byte is looked at again from the start state.
    Resync,
}

/// The transition table of `json-lexer.c`, as a function: `(step, consumed)`.
fn next(st: St, ch: u8) -> (Step, bool) {
    use Step::*;
    // The states that go on to `to` on a digit, and to `otherwise` on anything else.
    let digit_to = |to, otherwise| {
        if ch.is_ascii_digit() {
            (To(to), true)
        } else {
            otherwise
        }
    };
    match st {
        St::Recovery => match ch {
            b'\t' => (To(St::Recovery), true),
            0..=0x1f | 0xfe | 0xff | b'[' | b']' | b'{' | b'}' | b':' | b',' => (Resync, false),
            _ => (To(St::Recovery), true),
        },
        St::DqEscape | St::SqEscape => match ch {
            0x20..=0xfd => (To(if st == St::DqEscape { St::Dq } else { St::Sq }), true),
            _ => (Error, true),
        },
        St::Dq | St::Sq => {
            let (quote, esc) = if st == St::Dq {
                (b'"', St::DqEscape)
            } else {
                (b'\'', St::SqEscape)
            };
            match ch {
                _ if ch == quote => (Token(Tok::String), true),
                b'\\' => (To(esc), true),
                0x20..=0xfd => (To(st), true),
                _ => (Error, true),
            }
        }
        St::Zero => match ch {
            b'0'..=b'9' => (Error, true),
            b'.' => (To(St::Mantissa), true),
            b'e' | b'E' => (To(St::ExpE), true),
            _ => (Token(Tok::Integer), false),
        },
        St::ExpDigits => digit_to(St::ExpDigits, (Token(Tok::Float), false)),
        St::ExpSign => digit_to(St::ExpDigits, (Error, true)),
        St::ExpE => match ch {
            b'-' | b'+' => (To(St::ExpSign), true),
            b'0'..=b'9' => (To(St::ExpDigits), true),
            _ => (Error, true),
        },
        St::MantissaDigits => match ch {
            b'0'..=b'9' => (To(St::MantissaDigits), true),
            b'e' | b'E' => (To(St::ExpE), true),
            _ => (Token(Tok::Float), false),
        },
        St::Mantissa => digit_to(St::MantissaDigits, (Error, true)),
        St::Digits => match ch {
            b'0'..=b'9' => (To(St::Digits), true),
            b'e' | b'E' => (To(St::ExpE), true),
            b'.' => (To(St::Mantissa), true),
            _ => (Token(Tok::Integer), false),
        },
        St::Sign => match ch {
            b'0' => (To(St::Zero), true),
            b'1'..=b'9' => (To(St::Digits), true),
            _ => (Error, true),
        },
        St::Keyword => match ch {
            b'a'..=b'z' => (To(St::Keyword), true),
            _ => (Token(Tok::Keyword), false),
        },
        St::Start => match ch {
            b'"' => (To(St::Dq), true),
            b'\'' => (To(St::Sq), true),
            b'0' => (To(St::Zero), true),
            b'1'..=b'9' => (To(St::Digits), true),
            b'-' => (To(St::Sign), true),
            b'{' => (Token(Tok::LCurly), true),
            b'}' => (Token(Tok::RCurly), true),
            b'[' => (Token(Tok::LSquare), true),
            b']' => (Token(Tok::RSquare), true),
            b',' => (Token(Tok::Comma), true),
            b':' => (Token(Tok::Colon), true),
            b'a'..=b'z' => (To(St::Keyword), true),
            b' ' | b'\t' | b'\r' | b'\n' => (Skip, true),
            _ => (Error, true),
        },
    }
}

/// One message's worth of input: a value, or the error text QEMU answers
/// with (class `GenericError`).
pub type Message = Result<Value, String>;

/// QEMU's `JSONMessageParser`: the lexer and the streamer that splits the
/// token stream into top-level values.
#[derive(Debug)]
pub struct JsonStreamer {
    state: St,
    /// The text of the message's tokens so far, one after the other, then
    /// that of the token being lexed (from `start`): one buffer reused from
    /// message to message rather than one allocation per token.
    text: Vec<u8>,
    /// Where the token being lexed starts in `text`.
    start: usize,
    /// The tokens of the message so far, their text as ranges of `text`.
    tokens: Vec<(Tok, Range<usize>)>,
    brace_count: i64,
    bracket_count: i64,
    token_size: usize,
}

impl Default for JsonStreamer {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonStreamer {
    /// A streamer in its start state.
    pub fn new() -> Self {
        JsonStreamer {
            state: St::Start,
            text: Vec::new(),
            start: 0,
            tokens: Vec::new(),
            brace_count: 0,
            bracket_count: 0,
            token_size: 0,
        }
    }

    /// Forgets any partial message, as QEMU's monitor does when a client
    /// disconnects (`json_message_parser_destroy` and `_init`).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Whether a message has begun and is not yet complete.
    pub fn is_idle(&self) -> bool {
        self.tokens.is_empty() && self.text.is_empty() && self.state == St::Start
    }

    /// Feeds bytes; `emit` receives each complete message or error, in order.
    pub fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(Message)) {
        for &ch in bytes {
            self.feed_char(ch, &mut emit);
        }
    }

    /// `json_lexer_feed_char`.
    fn feed_char(&mut self, ch: u8, emit: &mut impl FnMut(Message)) {
        loop {
            let (step, consumed) = next(self.state, ch);
            if consumed {
                self.text.push(ch);
            }
            match step {
                Step::To(s) => self.state = s,
                Step::Token(t) => {
                    self.process_token(t, emit);
                    self.state = St::Start;
                }
                Step::Skip | Step::Resync => {
                    self.text.truncate(self.start);
                    self.state = St::Start;
                }
                Step::Error => {
                    let msg = format!(
                        "JSON parse error, stray '{}'",
                        String::from_utf8_lossy(&self.text[self.start..])
                    );
                    self.emit_error(msg, emit);
                    self.state = St::Recovery;
                }
            }
            if self.state == St::Recovery {
                self.text.truncate(self.start);
            }
            if consumed {
                break;
            }
        }
        // A single token may not grow without bound either: QEMU hands it
        // to the streamer unfinished, whose size check then refuses it.
        if self.text.len() - self.start > MAX_TOKEN_SIZE {
            self.emit_error("JSON token size limit exceeded".into(), emit);
            self.state = St::Start;
        }
    }

    fn emit_error(&mut self, msg: String, emit: &mut impl FnMut(Message)) {
        self.clear_message();
        emit(Err(msg));
    }

    /// Forgets the message so far, the token being lexed included; the
    /// buffers keep their memory unless a large message grew them.
    fn clear_message(&mut self) {
        const KEEP: usize = 64 << 10;
        self.brace_count = 0;
        self.bracket_count = 0;
        self.token_size = 0;
        self.start = 0;
        self.text.clear();
        self.tokens.clear();
        if self.text.capacity() > KEEP {
            self.text = Vec::new();
        }
        if self.tokens.capacity() > KEEP / 16 {
            self.tokens = Vec::new();
        }
    }

    /// `json_message_process_token`: the token of type `t` whose text is
    /// `text[start..]`.
    fn process_token(&mut self, t: Tok, emit: &mut impl FnMut(Message)) {
        let len = self.text.len() - self.start;
        match t {
            Tok::LCurly => self.brace_count += 1,
            Tok::RCurly => self.brace_count -= 1,
            Tok::LSquare => self.bracket_count += 1,
            Tok::RSquare => self.bracket_count -= 1,
            _ => {}
        }
        if self.token_size + len + 1 > MAX_TOKEN_SIZE {
            return self.emit_error("JSON token size limit exceeded".into(), emit);
        }
        if self.tokens.len() + 1 > MAX_TOKEN_COUNT {
            return self.emit_error("JSON token count limit exceeded".into(), emit);
        }
        if self.bracket_count + self.brace_count > MAX_NESTING {
            return self.emit_error("JSON nesting depth limit exceeded".into(), emit);
        }
        self.token_size += len;
        self.tokens.push((t, self.start..self.text.len()));
        self.start = self.text.len();
        if (self.brace_count > 0 || self.bracket_count > 0)
            && self.brace_count >= 0
            && self.bracket_count >= 0
        {
            return;
        }
        let msg = parse_tokens(&self.tokens, &self.text);
        self.clear_message();
        emit(msg);
    }
}

/// `json_parser_parse`: one value from a message's tokens.
fn parse_tokens(tokens: &[(Tok, Range<usize>)], text: &[u8]) -> Message {
    let mut p = Parser {
        tokens,
        text,
        pos: 0,
        err: None,
    };
    match p.parse_value() {
        Some(v) if p.err.is_none() => Ok(v),
        _ => Err(p
            .err
            .unwrap_or_else(|| "JSON parse error, expecting value".into())),
    }
}

struct Parser<'t> {
    tokens: &'t [(Tok, Range<usize>)],
    text: &'t [u8],
    pos: usize,
    err: Option<String>,
}

/// `vsnprintf` into QEMU's `char message[1024]`.
fn truncate_message(mut s: String) -> String {
    if s.len() > 1023 {
        let mut end = 1023;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl<'t> Parser<'t> {
    /// `parse_error`: the first error stays.
    fn error(&mut self, msg: impl Into<String>) {
        if self.err.is_none() {
            self.err = Some(format!(
                "JSON parse error, {}",
                truncate_message(msg.into())
            ));
        }
    }

    fn peek(&self) -> Option<Tok> {
        self.tokens.get(self.pos).map(|t| t.0)
    }

    /// The next token and its text.
    fn pop(&mut self) -> Option<(Tok, &'t [u8])> {
        let (t, r) = self.tokens.get(self.pos)?;
        self.pos += 1;
        Some((*t, &self.text[r.clone()]))
    }

    fn parse_value(&mut self) -> Option<Value> {
        let Some(t) = self.peek() else {
            self.error("premature EOI");
            return None;
        };
        match t {
            Tok::LCurly => self.parse_object(),
            Tok::LSquare => self.parse_array(),
            Tok::Integer | Tok::Float | Tok::String => self.parse_literal(),
            Tok::Keyword => self.parse_keyword(),
            _ => {
                self.error("expecting value");
                None
            }
        }
    }

    fn parse_pair(&mut self, map: &mut Map<String, Value>) -> Option<()> {
        if self.peek().is_none() {
            self.error("premature EOI");
            return None;
        }
        let key = self.parse_value();
        let Some(Value::String(key)) = key else {
            self.error("key is not a string in object");
            return None;
        };
        match self.pop().map(|t| t.0) {
            None => {
                self.error("premature EOI");
                return None;
            }
            Some(Tok::Colon) => {}
            Some(_) => {
                self.error("missing : in object pair");
                return None;
            }
        }
        let Some(value) = self.parse_value() else {
            self.error("Missing value in dict");
            return None;
        };
        if map.contains_key(&key) {
            self.error("duplicate key");
            return None;
        }
        map.insert(key, value);
        Some(())
    }

    /// The members of an object or the elements of an array, from its
    /// opening token up to `close`: QEMU's `parse_object` and
    /// `parse_array` (qobject/json-parser.c) read both alike but for how
    /// one item is read and the error for a missing separator.
    fn parse_items(
        &mut self,
        close: Tok,
        separator_error: &str,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.pop();
        match self.peek() {
            None => {
                self.error("premature EOI");
                return None;
            }
            Some(t) if t == close => {
                self.pop();
                return Some(());
            }
            Some(_) => {}
        }
        item(self)?;
        loop {
            match self.pop().map(|t| t.0) {
                None => {
                    self.error("premature EOI");
                    return None;
                }
                Some(t) if t == close => return Some(()),
                Some(Tok::Comma) => item(self)?,
                Some(_) => {
                    self.error(separator_error);
                    return None;
                }
            }
        }
    }

    fn parse_object(&mut self) -> Option<Value> {
        let mut map = Map::new();
        self.parse_items(Tok::RCurly, "expected separator in dict", |p| {
            p.parse_pair(&mut map)
        })?;
        Some(Value::Object(map))
    }

    fn parse_array(&mut self) -> Option<Value> {
        let mut list = Vec::new();
        self.parse_items(Tok::RSquare, "expected separator in list", |p| {
            let Some(v) = p.parse_value() else {
                p.error("expecting value");
                return None;
            };
            list.push(v);
            Some(())
        })?;
        Some(Value::Array(list))
    }

    fn parse_keyword(&mut self) -> Option<Value> {
        let text = self.pop().map(|t| t.1).unwrap_or_default();
        match text {
            b"true" => Some(Value::Bool(true)),
            b"false" => Some(Value::Bool(false)),
            b"null" => Some(Value::Null),
            _ => {
                let msg = format!("invalid keyword '{}'", String::from_utf8_lossy(text));
                self.error(msg);
                None
            }
        }
    }

    fn parse_literal(&mut self) -> Option<Value> {
        let (t, text) = self.pop()?;
        match t {
            Tok::String => match parse_string(text) {
                Ok(s) => Some(Value::String(s)),
                Err(e) => {
                    self.error(e);
                    None
                }
            },
            // The lexer admits only ASCII digits, signs, '.', 'e' here.
            _ => {
                let s = std::str::from_utf8(text).unwrap_or("0");
                if t == Tok::Integer {
                    if let Ok(i) = s.parse::<i64>() {
                        return Some(i.into());
                    }
                    if let Ok(u) = s.parse::<u64>() {
                        return Some(u.into());
                    }
                }
                let f: f64 = s.parse().unwrap_or(0.0);
                // strtod gives ±HUGE_VAL beyond the range; JSON has no
                // infinity, so the largest finite double stands for it.
                let f = if f.is_finite() {
                    f
                } else {
                    f64::MAX.copysign(f)
                };
                Some(Number::from_f64(f).map_or(Value::Null, Value::Number))
            }
        }
    }
}

/// `cvt4hex`: four hex digits at the start of `s`, or -1.
fn cvt4hex(s: &[u8]) -> i64 {
    let mut cp = 0i64;
    for i in 0..4 {
        let Some(d) = s.get(i).and_then(|&c| (c as char).to_digit(16)) else {
            return -1;
        };
        cp = (cp << 4) | i64::from(d);
    }
    cp
}

/// `is_valid_codepoint` of `util/unicode.c`: no surrogates, no
/// noncharacters, nothing past U+10FFFF.
fn valid_codepoint(cp: i64) -> bool {
    (0..=0x10_ffff).contains(&cp)
        && (cp & !0x7ff) != 0xd800
        && !(0xfdd0..=0xfdef).contains(&cp)
        && (cp & 0xfffe) != 0xfffe
}

/// `mod_utf8_codepoint` of `util/unicode.c`: the code point at the start
/// of `s` (modified UTF-8: `C0 80` is U+0000) and its length, or -1.
fn mod_utf8_codepoint(s: &[u8]) -> (i64, usize) {
    const MIN_CP: [i64; 5] = [0x80, 0x800, 0x10000, 0x20_0000, 0x400_0000];
    let Some(&byte) = s.first() else {
        return (-1, 0);
    };
    if byte < 0x80 {
        return (i64::from(byte), 1);
    }
    if byte >= 0xfe || byte & 0x40 == 0 {
        return (-1, 1);
    }
    let len = (byte.leading_ones() as usize).clamp(2, 6);
    let mut cp = i64::from(byte & (0x7f >> len));
    for i in 1..len {
        let b = s.get(i).copied().unwrap_or(0);
        if b & 0xc0 != 0x80 {
            return (-1, i);
        }
        cp = (cp << 6) | i64::from(b & 0x3f);
    }
    if !valid_codepoint(cp) || (cp < MIN_CP[len - 2] && !(cp == 0 && len == 2)) {
        return (-1, len);
    }
    (cp, len)
}

/// `parse_string`: a string token (with its quotes) unescaped.
fn parse_string(tok: &[u8]) -> Result<String, String> {
    let quote = tok.first().copied().unwrap_or(b'"');
    let body = tok.get(1..).unwrap_or_default();
    // Unescaping never lengthens the text.
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        if c == quote {
            break;
        }
        if c == b'\\' {
            let beg = i;
            i += 1;
            let e = body.get(i).copied().unwrap_or(0);
            i += 1;
            match e {
                b'"' => out.push('"'),
                b'\'' => out.push('\''),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let mut cp = cvt4hex(body.get(i..).unwrap_or_default());
                    i += 4;
                    if (0xd800..=0xdbff).contains(&cp)
                        && body.get(i) == Some(&b'\\')
                        && body.get(i + 1) == Some(&b'u')
                    {
                        cp = 0x10000 + ((cp & 0x3ff) << 10);
                        let trailing = cvt4hex(body.get(i + 2..).unwrap_or_default());
                        if (0xdc00..=0xdfff).contains(&trailing) {
                            cp |= trailing & 0x3ff;
                            i += 6;
                        } else {
                            cp = -1;
                        }
                    }
                    match u32::try_from(cp)
                        .ok()
                        .filter(|&c| valid_codepoint(i64::from(c)))
                        .and_then(char::from_u32)
                    {
                        Some(ch) => out.push(ch),
                        None => {
                            // `%.*s` of the escape, which stops at the
                            // token's end (its terminating NUL in QEMU).
                            let end = (i).min(tok.len() - 1);
                            let text = body.get(beg..end).unwrap_or_default();
                            return Err(format!(
                                "{} is not a valid Unicode character",
                                String::from_utf8_lossy(text)
                            ));
                        }
                    }
                }
                _ => return Err("invalid escape sequence in string".into()),
            }
            continue;
        }
        let (cp, len) = mod_utf8_codepoint(&body[i..]);
        match u32::try_from(cp).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return Err("invalid UTF-8 sequence in string".into()),
        }
        i += len;
    }
    Ok(out)
}

/// Appends `v` as QEMU's `qobject_to_json` writes it: `", "` and `": "`
/// separators, object members in `QDict` iteration order (hash bucket,
/// newest first: `{"return": {}, "id": 1}` but `{"id": 1, "error": ...}`),
/// every character outside printable ASCII as `\uXXXX`, doubles as `%.17g`.
pub fn write_qemu_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&format_g17(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => quoted_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_qemu_json(out, e);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<(u32, usize, &String, &Value)> = m
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (super::qdict::qdict_bucket(k), i, k, v))
                .collect();
            keys.sort_by_key(|&(b, i, _, _)| (b, std::cmp::Reverse(i)));
            for (n, (_, _, k, v)) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                quoted_str(out, k);
                out.push_str(": ");
                write_qemu_json(out, v);
            }
            out.push('}');
        }
    }
}

/// `v` as QEMU writes it, see [`write_qemu_json`].
pub fn to_qemu_json(v: &Value) -> String {
    let mut s = String::new();
    write_qemu_json(&mut s, v);
    s
}

/// `quoted_str` of `qobject/qjson.c`.
fn quoted_str(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let cp = u32::from(c);
                if cp > 0xffff {
                    let _ = write!(
                        out,
                        "\\u{:04X}\\u{:04X}",
                        0xd800 + ((cp - 0x10000) >> 10),
                        0xdc00 + ((cp - 0x10000) & 0x3ff)
                    );
                } else {
                    let _ = write!(out, "\\u{cp:04X}");
                }
            }
        }
    }
    out.push('"');
}

/// C's `%.17g`.
fn format_g17(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{x:.16e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if !(-4..17).contains(&exp) {
        let m = strip(mantissa.to_owned());
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(16 - exp).unwrap_or(0);
        strip(format!("{x:.decimals$}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(input: &[u8]) -> Vec<Message> {
        let mut s = JsonStreamer::new();
        let mut v = Vec::new();
        s.feed(input, |m| v.push(m));
        v
    }

    fn errs(input: &[u8]) -> Vec<String> {
        all(input)
            .into_iter()
            .map(|m| m.map_or_else(|e| e, |v| format!("ok {v}")))
            .collect()
    }

    #[test]
    fn qemu_error_texts() {
        // Each as qemu-system-x86_64 10.0 answers it on -qmp stdio.
        assert_eq!(
            errs(b"{ \"x\n\"\n}\n]\n"),
            [
                "JSON parse error, stray '\"x\n'",
                "JSON parse error, expecting value",
                "JSON parse error, expecting value",
            ]
        );
        assert_eq!(
            errs(b"{\"a\":1,\"a\":2}"),
            ["JSON parse error, duplicate key"]
        );
        assert_eq!(errs(b"tru\n"), ["JSON parse error, invalid keyword 'tru'"]);
        assert_eq!(
            errs(b"\"\\x\""),
            ["JSON parse error, invalid escape sequence in string"]
        );
        assert_eq!(
            errs(b"\"\\u12\""),
            ["JSON parse error, \\u12\" is not a valid Unicode character"]
        );
        assert_eq!(
            errs(b"{1:2}"),
            ["JSON parse error, key is not a string in object"]
        );
        assert_eq!(
            errs(b"{\"a\" 1}"),
            ["JSON parse error, missing : in object pair"]
        );
        assert_eq!(
            errs(b"{\"a\":1]"),
            ["JSON parse error, expected separator in dict"]
        );
        assert_eq!(
            errs(b"[1}"),
            ["JSON parse error, expected separator in list"]
        );
        assert_eq!(errs(b"{\"a\":}"), ["JSON parse error, expecting value"]);
        assert_eq!(errs(b"%p "), ["JSON parse error, stray '%'"]);
        assert_eq!(errs(b"01"), ["JSON parse error, stray '01'"]);
        assert_eq!(
            errs(b"\"\xc3\x28\""),
            ["JSON parse error, invalid UTF-8 sequence in string"]
        );
    }

    #[test]
    fn recovery_resynchronises_on_structural_characters() {
        // qmp-test.c's malformed inputs, each followed by a good request.
        for bad in crate::qmp::tests::QMP_TEST_MALFORMED {
            let mut input = bad.to_vec();
            input.extend_from_slice(b"{ 'execute': 'no-such-cmd' }");
            let got = all(&input);
            assert_eq!(got.len(), 2, "{}", String::from_utf8_lossy(bad));
            assert!(got[0].is_err());
            assert_eq!(got[1].as_ref().unwrap(), &json!({"execute": "no-such-cmd"}));
        }
    }

    #[test]
    fn values() {
        let got = all(b"{'a': [1, -2, 18446744073709551615, 1.5e3, true, null, \"\\u00e9\\ud83d\\ude00\\u0000\"]} ");
        assert_eq!(
            got[0].as_ref().unwrap(),
            &json!({"a": [1, -2, 18446744073709551615u64, 1500.0, true, null, "é😀\0"]})
        );
        // Scalars are messages too; a number ends at the next byte.
        assert_eq!(errs(b"1 \"s\""), ["ok 1", "ok \"s\""]);
    }

    #[test]
    fn limits() {
        let deep = "[".repeat(1025);
        assert_eq!(errs(deep.as_bytes()), ["JSON nesting depth limit exceeded"]);
        let ok = format!("{}{}", "[".repeat(1024), "]".repeat(1024));
        assert!(all(ok.as_bytes())[0].is_ok());
    }

    #[test]
    fn writer_matches_qemu() {
        assert_eq!(
            to_qemu_json(&json!({"return": {}, "id": [1, {"a": null}]})),
            "{\"return\": {}, \"id\": [1, {\"a\": null}]}"
        );
        assert_eq!(
            to_qemu_json(&json!({"error": {"class": "CommandNotFound", "desc": "x"}, "id": 3.5})),
            "{\"id\": 3.5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"x\"}}"
        );
        assert_eq!(
            to_qemu_json(&json!({"qemu": {"major": 10, "minor": 2, "micro": 0}})),
            "{\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 10}}"
        );
        assert_eq!(
            to_qemu_json(&json!("é\u{7f}😀\n")),
            "\"\\u00E9\\u007F\\uD83D\\uDE00\\n\""
        );
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e300), "1.0000000000000001e+300");
        assert_eq!(format_g17(-2.5), "-2.5");
    }
}
