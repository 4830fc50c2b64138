//! Money for people: minor units shown as decimal amounts of their currency, and decimal
//! amounts read back into minor units, with integer arithmetic only.
//!
//! The ledger counts integer minor units; how many decimals a currency's minor unit has is
//! ISO 4217's (2 for most, 0 for JPY, KRW, …, 3 for BHD, KWD, …).

use couponcactus_chaincode::types::Currency;

/// Why an amount could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal amount with at most the currency's decimals.
    #[error("{text:?} is not an amount of {currency} (at most {decimals} decimals)")]
    Malformed {
        /// What was given.
        text: String,
        /// The currency.
        currency: Currency,
        /// Its decimals.
        decimals: u32,
    },
    /// Too large for 64-bit minor units.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Decimals of the currency's minor unit (ISO 4217).
pub fn minor_unit_decimals(currency: Currency) -> u32 {
    match &currency.0 {
        b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG" | b"RWF"
        | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
        b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
        _ => 2,
    }
}

/// `1234` EUR → `"12.34 EUR"`.
pub fn format_minor(amount_minor: u64, currency: Currency) -> String {
    let decimals = minor_unit_decimals(currency);
    if decimals == 0 {
        return format!("{amount_minor} {currency}");
    }
    let scale = 10u64.pow(decimals);
    format!(
        "{}.{:0width$} {currency}",
        amount_minor / scale,
        amount_minor % scale,
        width = decimals as usize
    )
}

/// `"12.34"` EUR → `1234`; a plain integer is whole units (`"12"` → `1200`).
pub fn parse_amount(text: &str, currency: Currency) -> Result<u64, AmountError> {
    let decimals = minor_unit_decimals(currency);
    let malformed = || AmountError::Malformed {
        text: text.into(),
        currency,
        decimals,
    };
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > decimals as usize
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(malformed());
    }
    let whole: u64 = whole
        .parse()
        .map_err(|_| AmountError::TooLarge(text.into()))?;
    let frac: u64 = if decimals == 0 {
        0
    } else {
        format!("{frac:0<width$}", width = decimals as usize)
            .parse()
            .map_err(|_| malformed())?
    };
    whole
        .checked_mul(10u64.pow(decimals))
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| AmountError::TooLarge(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn amounts_format_and_parse_per_currency() {
        assert_eq!(format_minor(1234, c("EUR")), "12.34 EUR");
        assert_eq!(format_minor(5, c("EUR")), "0.05 EUR");
        assert_eq!(format_minor(1234, c("JPY")), "1234 JPY");
        assert_eq!(format_minor(1234, c("KWD")), "1.234 KWD");
        assert_eq!(parse_amount("12.34", c("EUR")), Ok(1234));
        assert_eq!(parse_amount("12.3", c("EUR")), Ok(1230));
        assert_eq!(parse_amount("12", c("EUR")), Ok(1200));
        assert_eq!(parse_amount("1200", c("JPY")), Ok(1200));
        assert!(parse_amount("12.345", c("EUR")).is_err());
        assert!(parse_amount("1.5", c("JPY")).is_err());
        assert!(parse_amount("-1", c("EUR")).is_err());
        assert!(parse_amount(".5", c("EUR")).is_err());
        assert!(matches!(
            parse_amount("999999999999999999999", c("EUR")),
            Err(AmountError::TooLarge(_))
        ));
    }
}
