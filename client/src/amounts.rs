//! Money for people: currency codes as people type them, minor units shown as decimal
//! amounts of their currency, and decimal amounts read back into minor units, with integer
//! arithmetic only.
//!
//! The ledger counts integer minor units; how many decimals a currency's minor unit has is
//! ISO 4217's (2 for most, 0 for JPY, KRW, …, 3 for BHD, KWD, …, 4 for CLF, UYW), taken from
//! the maintained `iso_currency` table. Input is strict: [`parse_currency`] takes any case
//! (`eur` is `EUR`) but only ISO 4217 codes that have a minor unit (not XAU, XXX, …), and
//! [`parse_amount`] refuses more decimals than the currency has (`80.001` EUR), signs and
//! anything that is not plain digits with one optional point, so that a typo never becomes
//! a different amount.

use couponcactus_chaincode::types::Currency;

/// Why a currency or an amount could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal amount with at most the currency's decimals.
    #[error("{text:?} is not an amount of {currency} (digits with at most {decimals} decimals, e.g. {example})", example = example(*currency, *decimals))]
    Malformed {
        /// What was given.
        text: String,
        /// The currency.
        currency: Currency,
        /// Its decimals.
        decimals: u32,
    },
    /// A negative amount.
    #[error("{0:?} is negative: amounts are 0 or more")]
    Negative(String),
    /// Too large for 64-bit minor units.
    #[error("{0:?} is too large")]
    TooLarge(String),
    /// Not an ISO 4217 currency code with a minor unit.
    #[error("{0:?} is not an ISO 4217 currency code (e.g. EUR, USD, JPY)")]
    UnknownCurrency(String),
    /// A decimal amount and the same amount in minor units were both given.
    #[error("give {field} once: as a decimal amount or in minor units, not both")]
    Both {
        /// The field, as the user named it.
        field: String,
    },
    /// A decimal amount needs a currency to know its decimals.
    #[error("{field} {text:?} is a decimal amount: it needs the currency")]
    NoCurrency {
        /// The field, as the user named it.
        field: String,
        /// What was given.
        text: String,
    },
}

fn example(currency: Currency, decimals: u32) -> String {
    match decimals {
        0 => format!("\"80\" {currency}"),
        d => format!("\"80.{}\" {currency}", "0".repeat(d as usize)),
    }
}

/// Decimals of an ISO 4217 currency's minor unit; `None` for a code that is not in ISO
/// 4217 or has no minor unit (precious metals, XXX, XTS, …).
pub fn currency_decimals(currency: Currency) -> Option<u32> {
    iso_currency::Currency::from_code(&currency.to_string())
        .and_then(|c| c.exponent())
        .map(u32::from)
}

/// Decimals of the currency's minor unit for display: ISO 4217's, or 2 for a code outside
/// it (the ledger accepts any three capital letters; such a pool still shows readably).
pub fn minor_unit_decimals(currency: Currency) -> u32 {
    currency_decimals(currency).unwrap_or(2)
}

/// A currency code as people type it: any case, surrounding spaces ignored; only ISO 4217
/// codes with a minor unit.
pub fn parse_currency(text: &str) -> Result<Currency, AmountError> {
    let upper = text.trim().to_ascii_uppercase();
    let unknown = || AmountError::UnknownCurrency(text.to_string());
    let currency: Currency = upper.parse().map_err(|_| unknown())?;
    currency_decimals(currency).ok_or_else(unknown)?;
    Ok(currency)
}

/// `1234` EUR → `"12.34 EUR"`.
pub fn format_minor(amount_minor: u64, currency: Currency) -> String {
    format!("{} {currency}", format_decimal(amount_minor, currency))
}

/// `1234` EUR → `"12.34"` (no currency code).
pub fn format_decimal(amount_minor: u64, currency: Currency) -> String {
    let decimals = minor_unit_decimals(currency);
    if decimals == 0 {
        return amount_minor.to_string();
    }
    let scale = 10u64.pow(decimals);
    format!(
        "{}.{:0width$}",
        amount_minor / scale,
        amount_minor % scale,
        width = decimals as usize
    )
}

/// `"12.34"` EUR → `1234`; a plain integer is whole units (`"12"` → `1200`). The currency
/// must be an ISO 4217 one ([`currency_decimals`]).
pub fn parse_amount(text: &str, currency: Currency) -> Result<u64, AmountError> {
    let decimals = currency_decimals(currency)
        .ok_or_else(|| AmountError::UnknownCurrency(currency.to_string()))?;
    let malformed = || AmountError::Malformed {
        text: text.into(),
        currency,
        decimals,
    };
    let t = text.trim();
    if t.starts_with('-') && t.len() > 1 {
        return Err(AmountError::Negative(text.into()));
    }
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || (t.contains('.') && frac.is_empty())
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

/// One amount given either as decimal text (`decimal`, read in `currency`) or in minor
/// units (`minor`), at most one of them: the minor units, or `None` when neither is given.
/// `field` names the amount in errors (e.g. `--total`).
pub fn amount_either(
    field: &str,
    decimal: Option<&str>,
    minor: Option<u64>,
    currency: Option<Currency>,
) -> Result<Option<u64>, AmountError> {
    match (decimal, minor) {
        (Some(_), Some(_)) => Err(AmountError::Both {
            field: field.into(),
        }),
        (None, minor) => Ok(minor),
        (Some(text), None) => {
            let currency = currency.ok_or_else(|| AmountError::NoCurrency {
                field: field.into(),
                text: text.into(),
            })?;
            parse_amount(text, currency).map(Some)
        }
    }
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
        assert_eq!(format_minor(12345, c("CLF")), "1.2345 CLF");
        // A code outside ISO 4217 still shows, with two decimals.
        assert_eq!(format_minor(1234, c("ZZZ")), "12.34 ZZZ");
        assert_eq!(parse_amount("12.34", c("EUR")), Ok(1234));
        assert_eq!(parse_amount("12.3", c("EUR")), Ok(1230));
        assert_eq!(parse_amount("12", c("EUR")), Ok(1200));
        assert_eq!(parse_amount(" 80.00 ", c("EUR")), Ok(8000));
        assert_eq!(parse_amount("0", c("EUR")), Ok(0));
        assert_eq!(parse_amount("1200", c("JPY")), Ok(1200));
        assert_eq!(parse_amount("1.234", c("BHD")), Ok(1234));
    }

    #[test]
    fn bad_amounts_are_refused_with_what_is_wrong() {
        let err = parse_amount("80.001", c("EUR")).unwrap_err();
        assert!(matches!(err, AmountError::Malformed { decimals: 2, .. }));
        assert!(err.to_string().contains("at most 2 decimals"), "{err}");
        assert!(parse_amount("1.5", c("JPY")).is_err());
        assert_eq!(
            parse_amount("-1", c("EUR")),
            Err(AmountError::Negative("-1".into()))
        );
        assert!(
            parse_amount("-0.50", c("EUR"))
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        for bad in [
            ".5", "5.", "", "-", "+5", "1,50", "1e3", "12.3.4", "ten", "8 0",
        ] {
            assert!(parse_amount(bad, c("EUR")).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            parse_amount("999999999999999999999", c("EUR")),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_amount("184467440737095516.16", c("EUR")),
            Err(AmountError::TooLarge(_))
        ));
        // Amounts of a code outside ISO 4217 cannot be read: its decimals are unknown.
        assert_eq!(
            parse_amount("1", c("ZZZ")),
            Err(AmountError::UnknownCurrency("ZZZ".into()))
        );
    }

    #[test]
    fn currencies_are_iso_4217_in_any_case() {
        assert_eq!(parse_currency("eur"), Ok(c("EUR")));
        assert_eq!(parse_currency(" Usd "), Ok(c("USD")));
        assert_eq!(parse_currency("jpy"), Ok(c("JPY")));
        for bad in ["EURO", "EU", "", "ZZZ", "ABC", "XAU", "XXX", "€", "e1r"] {
            assert!(
                matches!(parse_currency(bad), Err(AmountError::UnknownCurrency(_))),
                "{bad:?} accepted"
            );
        }
        assert!(
            parse_currency("zzz")
                .unwrap_err()
                .to_string()
                .contains("ISO 4217")
        );
    }

    #[test]
    fn one_amount_in_one_form() {
        let eur = Some(c("EUR"));
        assert_eq!(
            amount_either("--total", Some("80.00"), None, eur),
            Ok(Some(8000))
        );
        assert_eq!(
            amount_either("--total", None, Some(8000), eur),
            Ok(Some(8000))
        );
        assert_eq!(amount_either("--total", None, None, eur), Ok(None));
        assert!(matches!(
            amount_either("--total", Some("80"), Some(8000), eur),
            Err(AmountError::Both { .. })
        ));
        assert!(matches!(
            amount_either("max_discount", Some("20.00"), None, None),
            Err(AmountError::NoCurrency { .. })
        ));
        assert_eq!(amount_either("--total", None, Some(5), None), Ok(Some(5)));
    }
}
