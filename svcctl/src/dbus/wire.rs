//! D-Bus messages as bytes: a method call out, any message in. zvariant does every piece of
//! marshalling (the header is itself the D-Bus struct `(yyyyuua(yv))`); this module only
//! puts the header and body together and finds where one message ends.

use serde::Serialize;
use zvariant::serialized::{Context, Data};
use zvariant::{DynamicType, ObjectPath, Value, BE, LE};

/// Message types of the D-Bus specification.
const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// Header field codes.
const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SENDER: u8 = 7;
const FIELD_SIGNATURE: u8 = 8;

/// The fixed part of every header: endianness, type, flags, version, body length, serial,
/// and the byte length of the header-field array that follows.
pub const FIXED_HEADER: usize = 16;

/// The largest message the specification allows (128 MiB); anything claiming more is a
/// broken peer, not a message to allocate for.
const MAX_MESSAGE: usize = 128 * 1024 * 1024;

/// A method call to send. Flags are always 0: no ALLOW_INTERACTIVE_AUTHORIZATION, so the
/// manager never waits for a password prompt on our behalf.
pub struct Call<'a> {
    pub destination: Option<&'a str>,
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
}

type Header<'a> = (u8, u8, u8, u8, u32, u32, Vec<(u8, Value<'a>)>);

/// Marshals a method call with `serial` and `body` (a tuple of the arguments, `()` for none).
pub fn encode_call<B>(call: &Call, serial: u32, body: &B) -> Result<Vec<u8>, String>
where
    B: Serialize + DynamicType,
{
    let ctxt = Context::new_dbus(LE, 0);
    let signature = body.signature();
    let body_bytes = zvariant::to_bytes(ctxt, body).map_err(|e| format!("encode body: {e}"))?;
    let path = ObjectPath::try_from(call.path).map_err(|e| format!("object path: {e}"))?;
    let mut fields: Vec<(u8, Value)> = vec![
        (FIELD_PATH, Value::ObjectPath(path)),
        (FIELD_INTERFACE, Value::from(call.interface)),
        (FIELD_MEMBER, Value::from(call.member)),
    ];
    if let Some(destination) = call.destination {
        fields.push((FIELD_DESTINATION, Value::from(destination)));
    }
    let body_len = u32::try_from(body_bytes.len()).map_err(|_| "body too large".to_string())?;
    let header: Header = (b'l', METHOD_CALL, 0, 1, body_len, serial, fields);
    let mut bytes = zvariant::to_bytes(ctxt, &header)
        .map_err(|e| format!("encode header: {e}"))?
        .to_vec();
    if !body_bytes.is_empty() {
        append_signature_field(&mut bytes, &signature.to_string_no_parens())?;
    }
    bytes.resize(bytes.len().next_multiple_of(8), 0);
    bytes.extend_from_slice(&body_bytes);
    Ok(bytes)
}

/// Appends the SIGNATURE header field (`(yv)` holding a `g`) to a marshalled header and
/// fixes the field array's length. zvariant writes a signature of several types as one
/// struct, `(ss)`, where the header needs the bare `ss` of the argument list.
fn append_signature_field(header: &mut Vec<u8>, signature: &str) -> Result<(), String> {
    let len = u8::try_from(signature.len()).map_err(|_| "signature too long".to_string())?;
    header.resize(header.len().next_multiple_of(8), 0);
    header.extend_from_slice(&[FIELD_SIGNATURE, 1, b'g', 0, len]);
    header.extend_from_slice(signature.as_bytes());
    header.push(0);
    let array_len = u32::try_from(header.len() - FIXED_HEADER).map_err(|_| "header too long")?;
    header[12..16].copy_from_slice(&array_len.to_le_bytes());
    Ok(())
}

/// The total length of the message that starts `buf`, once its fixed header is there.
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < FIXED_HEADER {
        return Ok(None);
    }
    let read_u32 = |at: usize| {
        let b: [u8; 4] = buf[at..at + 4].try_into().expect("4 bytes");
        match buf[0] {
            b'l' => Ok(u32::from_le_bytes(b)),
            b'B' => Ok(u32::from_be_bytes(b)),
            other => Err(format!("bad endianness byte {other:#x} in a message")),
        }
    };
    let body = read_u32(4)? as usize;
    let fields = read_u32(12)? as usize;
    let total = (FIXED_HEADER + fields).next_multiple_of(8) + body;
    if total > MAX_MESSAGE {
        return Err(format!(
            "a message claims {total} bytes, more than D-Bus allows"
        ));
    }
    Ok(Some(total))
}

/// A message received, with its header decoded and its body kept as bytes.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub sender: Option<String>,
    pub signature: String,
    body: Data<'static, 'static>,
}

impl Message {
    /// Decodes one whole message (as long as [`message_len`] said).
    pub fn decode(bytes: Vec<u8>) -> Result<Message, String> {
        let ctxt = match bytes.first() {
            Some(b'l') => Context::new_dbus(LE, 0),
            Some(b'B') => Context::new_dbus(BE, 0),
            _ => return Err("a message with no endianness byte".into()),
        };
        let data = Data::new(&bytes[..], ctxt);
        let (header, used): (Header, usize) = data
            .deserialize()
            .map_err(|e| format!("cannot decode a message header: {e}"))?;
        let (_, kind, _, _, body_len, serial, fields) = header;
        let mut message = Message {
            kind,
            serial,
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            sender: None,
            signature: String::new(),
            body: Data::new(Vec::new(), ctxt),
        };
        let body_start = used.next_multiple_of(8);
        for (code, value) in &fields {
            let text = match value {
                Value::Str(s) => Some(s.as_str().to_string()),
                Value::ObjectPath(p) => Some(p.as_str().to_string()),
                Value::Signature(s) => Some(s.to_string_no_parens()),
                _ => None,
            };
            match (*code, value) {
                (FIELD_REPLY_SERIAL, Value::U32(n)) => message.reply_serial = Some(*n),
                (FIELD_PATH, _) => message.path = text,
                (FIELD_INTERFACE, _) => message.interface = text,
                (FIELD_MEMBER, _) => message.member = text,
                (FIELD_ERROR_NAME, _) => message.error_name = text,
                (FIELD_SENDER, _) => message.sender = text,
                (FIELD_SIGNATURE, _) => message.signature = text.unwrap_or_default(),
                _ => {}
            }
        }
        drop(fields);
        if body_start + body_len as usize != bytes.len() {
            return Err("a message's length does not match its header".into());
        }
        // The body starts 8-aligned, so a tuple read as a struct sees the same bytes.
        message.body = Data::new(bytes, ctxt).slice(body_start..);
        Ok(message)
    }

    /// Deserialises the body as `T` (a tuple for several arguments), checked against the
    /// message's own signature.
    pub fn body<'m, T>(&'m self) -> Result<T, String>
    where
        T: serde::Deserialize<'m> + zvariant::Type,
    {
        let wanted = T::SIGNATURE.to_string();
        if wanted != self.signature && wanted != format!("({})", self.signature) {
            return Err(format!(
                "the reply has signature \"{}\", expected \"{wanted}\"",
                self.signature
            ));
        }
        self.body
            .deserialize_for_signature(wanted.as_str())
            .map(|(v, _)| v)
            .map_err(|e| format!("cannot decode the reply: {e}"))
    }

    /// The first string of an error's body: its human-readable message.
    pub fn error_text(&self) -> String {
        if self.signature.starts_with('s') {
            if let Ok(text) = self.body::<String>() {
                return text;
            }
        }
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips_through_the_decoder() {
        let call = Call {
            destination: Some("org.freedesktop.systemd1"),
            path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager",
            member: "StopUnit",
        };
        let bytes = encode_call(&call, 7, &("a.service", "replace")).unwrap();
        assert_eq!(message_len(&bytes).unwrap(), Some(bytes.len()));
        assert_eq!(message_len(&bytes[..10]).unwrap(), None);
        let message = Message::decode(bytes).unwrap();
        assert_eq!(message.kind, METHOD_CALL);
        assert_eq!(message.serial, 7);
        assert_eq!(message.member.as_deref(), Some("StopUnit"));
        assert_eq!(message.path.as_deref(), Some("/org/freedesktop/systemd1"));
        assert_eq!(message.signature, "ss");
        let (unit, mode): (String, String) = message.body().unwrap();
        assert_eq!((unit.as_str(), mode.as_str()), ("a.service", "replace"));
        assert!(
            message.body::<(u32, String)>().is_err(),
            "signature is checked"
        );
    }

    #[test]
    fn a_call_without_arguments_has_no_signature_field() {
        let call = Call {
            destination: None,
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "Hello",
        };
        let bytes = encode_call(&call, 1, &()).unwrap();
        let message = Message::decode(bytes).unwrap();
        assert_eq!(message.signature, "");
        assert_eq!(message.interface.as_deref(), Some("org.freedesktop.DBus"));
    }

    #[test]
    fn lengths_beyond_the_limit_are_refused() {
        let mut bytes = vec![b'l', 2, 0, 1];
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        assert!(message_len(&bytes).is_err());
        bytes[0] = b'x';
        assert!(message_len(&bytes).is_err());
    }
}
