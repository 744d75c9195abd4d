//! The message model (spec §1.2): an ordered list of named fields.

/// A field value: type 0 (string) or type 1 (binary) of the original. Other types never appear
/// in v1 traffic and are rejected by the decoder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

/// One `name=value` field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

/// An ordered list of fields. Order matters: the classic digest covers fields in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Message {
    pub fields: Vec<Field>,
}

impl Message {
    /// A message of type `t`.
    pub fn new(t: &str) -> Self {
        let mut m = Message::default();
        m.push("t", t);
        m
    }

    /// Appends a string field (a name may repeat; lookups see the first).
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.fields.push(Field {
            name: name.to_string(),
            value: Value::Str(value.as_ref().to_vec()),
        });
        self
    }

    /// Appends a binary field.
    pub fn push_bin(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        self.fields.push(Field {
            name: name.to_string(),
            value: Value::Bin(value.as_ref().to_vec()),
        });
        self
    }

    /// Changes the first field of that name in place, or appends it (the original's "modify").
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let v = Value::Str(value.as_ref().to_vec());
        match self.fields.iter_mut().find(|f| f.name == name) {
            Some(f) => f.value = v,
            None => self.fields.push(Field {
                name: name.to_string(),
                value: v,
            }),
        }
        self
    }

    /// The first field of that name, raw.
    pub fn get_value(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// The first string field of that name, if it is valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.get_value(name)? {
            Value::Str(v) => std::str::from_utf8(v).ok(),
            Value::Bin(_) => None,
        }
    }

    /// The first binary field of that name.
    pub fn get_bin(&self, name: &str) -> Option<&[u8]> {
        match self.get_value(name)? {
            Value::Bin(v) => Some(v),
            Value::Str(_) => None,
        }
    }

    /// The message type (`t`).
    pub fn msg_type(&self) -> Option<&str> {
        self.get("t")
    }

    /// A hex field (`seq`, `hg`, `ts`, `dt`, `ackseq`) as a number.
    pub fn get_hex(&self, name: &str) -> Option<u64> {
        u64::from_str_radix(self.get(name)?, 16).ok()
    }

    /// Removes every field of that name.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|f| f.name != name);
    }
}
