//! Typed codec errors. Each is a plain `Copy` value so that rejecting a forged packet costs no
//! allocation; `kind_name` gives a stable label for counters and logs.

use std::fmt;

/// Why a received datagram was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecodeError {
    /// The packet ends before its framing is complete.
    Truncated,
    /// Neither `>>>\n` nor `###\n`, or a malformed netstring / marker / trailer.
    BadFraming,
    /// A field line or netstring that is not `[(d)]name=value` with valid name and value.
    BadField,
    /// A field type other than string (0) or binary (1): never used by v1 traffic.
    UnsupportedType,
    /// Longer than the 262143 bytes the original accepts.
    TooLarge,
    /// No authenticator (classic `auth` field or netstring trailer).
    NoAuth,
    /// An authenticator that is malformed or does not match.
    BadAuth,
    /// An authenticator naming a key index absent from our authkeys.
    UnknownKeyIndex,
}

impl DecodeError {
    /// Stable snake_case label, e.g. for per-kind drop counters.
    pub fn kind_name(self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::BadFraming => "bad_framing",
            DecodeError::BadField => "bad_field",
            DecodeError::UnsupportedType => "unsupported_type",
            DecodeError::TooLarge => "too_large",
            DecodeError::NoAuth => "no_auth",
            DecodeError::BadAuth => "bad_auth",
            DecodeError::UnknownKeyIndex => "unknown_key_index",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded (the original would never send it either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// A value is empty: every peer rejects the whole message (spec §1.2).
    EmptyValue,
    /// A name that is empty, contains `=`, LF or NUL, or starts with a marker or `(`.
    BadName,
    /// A string value containing NUL, or 0x13 in classic format (it would come back as LF).
    BadValue,
    /// The encoded packet would be 262144 bytes or more.
    TooLarge,
    /// The `auth N` sending index has no key line.
    NoSendKey,
}

impl EncodeError {
    /// Stable snake_case label.
    pub fn kind_name(self) -> &'static str {
        match self {
            EncodeError::EmptyValue => "empty_value",
            EncodeError::BadName => "bad_name",
            EncodeError::BadValue => "bad_value",
            EncodeError::TooLarge => "too_large",
            EncodeError::NoSendKey => "no_send_key",
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())
    }
}

impl std::error::Error for EncodeError {}
