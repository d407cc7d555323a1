//! A fast path for the common shape of metric messages: flat objects with only `time`,
//! `service`, `component`, `metric` and `value`, strings without escapes, plain decimal numbers.
//!
//! Decoding is the most expensive stage of ingest, and serde's derived visitor spends most of it
//! on generic machinery this shape does not need. The scanner accepts a strict subset of what
//! serde accepts, and gives the same fields for it; on anything else (an escape, `labels`, an
//! unknown or repeated key, an exponent, more than 15 digits, malformed JSON) it declines and
//! the message goes through serde, so refusals and their reasons stay exactly serde's.

use std::borrow::Cow;

/// One metric object's fields, borrowed from the payload.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScannedMetric<'a> {
    pub time: &'a str,
    pub service: &'a str,
    pub component: Option<&'a str>,
    pub metric: &'a str,
    pub value: f64,
}

impl<'a> ScannedMetric<'a> {
    pub fn component(&self) -> Option<Cow<'a, str>> {
        self.component.map(Cow::Borrowed)
    }
}

/// How the scanned objects came: an array (whose elements refusals name) or one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Array,
    Object,
}

/// Scans a payload that is one metric object or a non-empty array of them into `out`.
/// `None` means "not the simple shape": nothing is appended and serde decides.
pub(super) fn scan_metrics<'a>(
    payload: &'a [u8],
    out: &mut Vec<ScannedMetric<'a>>,
) -> Option<Shape> {
    let start = out.len();
    let result = Scanner {
        bytes: payload,
        at: 0,
    }
    .message(out);
    if result.is_none() {
        out.truncate(start);
    }
    result
}

/// Powers of ten up to the most fraction digits accepted, each exact in an f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn message(&mut self, out: &mut Vec<ScannedMetric<'a>>) -> Option<Shape> {
        self.skip_whitespace();
        let shape = match self.peek()? {
            b'[' => {
                self.at += 1;
                loop {
                    self.skip_whitespace();
                    out.push(self.object()?);
                    self.skip_whitespace();
                    match self.next()? {
                        b',' => continue,
                        b']' => break,
                        _ => return None,
                    }
                }
                Shape::Array
            }
            b'{' => {
                out.push(self.object()?);
                Shape::Object
            }
            _ => return None,
        };
        self.skip_whitespace();
        (self.at == self.bytes.len()).then_some(shape)
    }

    fn object(&mut self) -> Option<ScannedMetric<'a>> {
        self.expect(b'{')?;
        let (mut time, mut service, mut component, mut metric, mut value) =
            (None, None, None::<Option<&str>>, None, None);
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            // A repeated key is an error for serde: decline and let it say so.
            match key {
                "time" if time.is_none() => time = Some(self.string()?),
                "service" if service.is_none() => service = Some(self.string()?),
                "metric" if metric.is_none() => metric = Some(self.string()?),
                "component" if component.is_none() => {
                    component = Some(if self.peek()? == b'n' {
                        self.literal(b"null")?;
                        None
                    } else {
                        Some(self.string()?)
                    })
                }
                "value" if value.is_none() => value = Some(self.number()?),
                _ => return None,
            }
            self.skip_whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        Some(ScannedMetric {
            time: time?,
            service: service?,
            component: component.flatten(),
            metric: metric?,
            value: value?,
        })
    }

    /// A string without escapes or control characters, valid UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let rest = &self.bytes[start..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        std::str::from_utf8(&rest[..len]).ok()
    }

    /// A number without exponent and with at most 15 digits: its value is then an exact
    /// integer divided by an exact power of ten, one correctly rounded operation, which is
    /// what serde's parser computes for the same text.
    fn number(&mut self) -> Option<f64> {
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let mut mantissa: u64 = 0;
        let mut digits = 0u32;
        let integer_start = self.at;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            mantissa = mantissa * 10 + u64::from(d - b'0');
            digits += 1;
            self.at += 1;
            if digits > 15 {
                return None;
            }
        }
        let integer_digits = self.at - integer_start;
        if integer_digits == 0 || (integer_digits > 1 && self.bytes[integer_start] == b'0') {
            return None;
        }
        let mut fraction_digits = 0usize;
        if self.peek() == Some(b'.') {
            self.at += 1;
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                mantissa = mantissa * 10 + u64::from(d - b'0');
                digits += 1;
                fraction_digits += 1;
                self.at += 1;
                if digits > 15 {
                    return None;
                }
            }
            if fraction_digits == 0 {
                return None;
            }
        }
        if digits > 15 || matches!(self.peek(), Some(b'e' | b'E')) {
            return None;
        }
        let magnitude = mantissa as f64 / POW10[fraction_digits];
        Some(if negative { -magnitude } else { magnitude })
    }

    fn literal(&mut self, text: &[u8]) -> Option<()> {
        let end = self.at + text.len();
        (self.bytes.get(self.at..end)? == text).then(|| self.at = end)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    /// What serde makes of the same text (the reference the scanner must agree with).
    #[derive(Deserialize, Debug, PartialEq)]
    struct Reference {
        time: String,
        service: String,
        #[serde(default)]
        component: Option<String>,
        metric: String,
        value: f64,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    }

    fn by_serde(payload: &[u8]) -> Option<Vec<Reference>> {
        let text = std::str::from_utf8(payload).ok()?;
        if text.trim_start().starts_with('[') {
            serde_json::from_slice(payload).ok()
        } else {
            serde_json::from_slice(payload).ok().map(|one| vec![one])
        }
    }

    fn scanned(payload: &[u8]) -> Option<Vec<Reference>> {
        let mut out = Vec::new();
        scan_metrics(payload, &mut out)?;
        Some(
            out.into_iter()
                .map(|m| Reference {
                    time: m.time.into(),
                    service: m.service.into(),
                    component: m.component.map(Into::into),
                    metric: m.metric.into(),
                    value: m.value,
                    labels: Default::default(),
                })
                .collect(),
        )
    }

    /// Whatever the scanner accepts, serde accepts with the same fields.
    fn agrees(payload: &[u8]) {
        if let Some(fast) = scanned(payload) {
            let reference = by_serde(payload).expect("the scanner accepted what serde refuses");
            assert_eq!(fast.len(), reference.len());
            for (a, b) in fast.iter().zip(&reference) {
                assert_eq!(a, b, "{}", String::from_utf8_lossy(payload));
                assert_eq!(a.value.to_bits(), b.value.to_bits());
            }
        }
    }

    #[test]
    fn the_common_shape_is_scanned() {
        let payload = br#" [{"time":"2026-11-02T10:00:17Z","service":"payments","component":"probe","metric":"up","value":1},
            {"service":"payments","metric":"requests_total","value":1043.5,"time":"2026-11-02T10:00:17Z","component":null}] "#;
        let fast = scanned(payload).expect("scanned");
        assert_eq!(fast.len(), 2);
        assert_eq!(fast[0].component.as_deref(), Some("probe"));
        assert_eq!(fast[1].value, 1043.5);
        assert_eq!(fast[1].component, None);
        agrees(payload);
        let one = br#"{"time":"t","service":"s","metric":"m","value":-0.25}"#;
        assert_eq!(scanned(one).unwrap()[0].value, -0.25);
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for payload in [
            &br#"[]"#[..],
            br#"{"time":"t","service":"s","metric":"m","value":1,"labels":{"a":"b"}}"#,
            br#"{"time":"t\n","service":"s","metric":"m","value":1}"#,
            br#"{"time":"t","service":"s","metric":"m","value":1e3}"#,
            br#"{"time":"t","service":"s","metric":"m","value":01}"#,
            br#"{"time":"t","service":"s","metric":"m","value":1.}"#,
            br#"{"time":"t","service":"s","metric":"m","value":"1"}"#,
            br#"{"time":"t","service":"s","metric":"m","value":1234567890123456}"#,
            br#"{"time":"t","service":"s","metric":"m","value":1,"value":2}"#,
            br#"{"time":"t","service":"s","value":1}"#,
            br#"{"time":"t","service":"s","metric":"m","value":1} x"#,
            br#"[{"time":"t","service":"s","metric":"m","value":1},]"#,
            br#"{"time":"t","service":"s","metric":"m","value":1,"extra":true}"#,
            b"{\"time\":\"\xff\",\"service\":\"s\",\"metric\":\"m\",\"value\":1}",
        ] {
            assert!(
                scanned(payload).is_none(),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    proptest! {
        #[test]
        fn numbers_parse_as_serde_parses_them(
            integer in 0u64..10_000_000, fraction in 0u64..100_000_000, width in 0usize..9, negative: bool
        ) {
            let sign = if negative { "-" } else { "" };
            let number = if width == 0 {
                format!("{sign}{integer}")
            } else {
                format!("{sign}{integer}.{:0width$}", fraction % 10u64.pow(width as u32))
            };
            let payload = format!(r#"{{"time":"t","service":"s","metric":"m","value":{number}}}"#);
            prop_assert!(scanned(payload.as_bytes()).is_some());
            agrees(payload.as_bytes());
        }

        #[test]
        fn arbitrary_text_is_scanned_only_as_serde_reads_it(text in "[\\[\\]{}\",:. 0-9a-z\\\\-]{0,60}") {
            agrees(text.as_bytes());
            let wrapped = format!(r#"[{{"time":"t","service":"s","metric":"m","value":{text}}}]"#);
            agrees(wrapped.as_bytes());
        }
    }
}
