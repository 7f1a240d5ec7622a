//! The answer's readable text, written piece by piece into one `String`.
//!
//! Why not `format!`: a `format!` per line (and one more per money figure) cost
//! ~1-3k wasm instructions of formatting machinery plus an allocation each;
//! appending to one buffer and printing integers by hand costs a few
//! instructions a byte. Floats still go through `Display`, the one definition
//! of how they print.

use std::fmt::Write;

/// A growing text; every method appends and returns the text for chaining.
pub struct Text(String);

impl Text {
    pub fn with_capacity(bytes: usize) -> Text {
        Text(String::with_capacity(bytes))
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn push(&mut self, s: &str) -> &mut Text {
        self.0.push_str(s);
        self
    }

    /// `n` as `{n}` prints it.
    pub fn int(&mut self, n: i64) -> &mut Text {
        push_i64(&mut self.0, n);
        self
    }

    /// `n` as `{n}` prints it.
    pub fn uint(&mut self, n: u64) -> &mut Text {
        push_u64(&mut self.0, n);
        self
    }

    /// `x` as `{x}` prints it.
    pub fn float(&mut self, x: f64) -> &mut Text {
        // Writing to a `String` cannot fail.
        let _ = write!(self.0, "{x}");
        self
    }

    /// `INR 1234.50`, `INR -12.05`: see [`crate::money`].
    pub fn money(&mut self, cents: i64, currency: &str) -> &mut Text {
        self.push(currency).push(" ");
        if cents < 0 {
            self.0.push('-');
        }
        let c = cents.unsigned_abs();
        self.uint(c / 100).push(".");
        let rest = c % 100;
        self.uint(rest / 10).uint(rest % 10)
    }

    /// [`Text::money`] of `cents` if it is an integer, else `n/a`.
    pub fn opt_money(&mut self, cents: Option<i64>, currency: &str) -> &mut Text {
        match cents {
            Some(c) => self.money(c, currency),
            None => self.push("n/a"),
        }
    }
}

/// Integers print the same in JSON and in text (`{n}`), so the text and the
/// report share the SDK's printers.
pub use djinn_sdk::json::text::{push_i64, push_u64};

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Text) -> &mut Text) -> String {
        let mut t = Text::with_capacity(0);
        write(&mut t);
        t.into_string()
    }

    #[test]
    fn integers_print_like_display() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            1_234_567,
            -987_654_321,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(text(|t| t.int(n)), n.to_string());
        }
        for n in [0, 7, 10, u64::MAX, u64::MAX - 1, 1 << 63] {
            assert_eq!(text(|t| t.uint(n)), n.to_string());
        }
    }

    #[test]
    fn money_prints_like_the_format_it_replaced() {
        for cents in [
            0,
            5,
            -5,
            10,
            99,
            100,
            -100,
            123_450,
            -1_275_300,
            i64::MAX,
            i64::MIN,
        ] {
            let sign = if cents < 0 { "-" } else { "" };
            let c = cents.unsigned_abs();
            let expected = format!("INR {sign}{}.{:02}", c / 100, c % 100);
            assert_eq!(text(|t| t.money(cents, "INR")), expected);
        }
        assert_eq!(text(|t| t.opt_money(None, "INR")), "n/a");
        assert_eq!(text(|t| t.money(1, "")), " 0.01");
    }

    #[test]
    fn floats_print_like_display() {
        for x in [0.0, -0.0, 38.9, 1e21, 1e-7, 18446744073709551615.0, 5.0] {
            assert_eq!(text(|t| t.float(x)), x.to_string());
        }
    }
}
