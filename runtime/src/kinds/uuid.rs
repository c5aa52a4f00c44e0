//! UUIDs (`vf-token`), with QEMU's `auto` for a random one.

use serde_json::Value;

use crate::error::Result;
use crate::kind::{DefaultValue, PropertyKind, ValueCx};

/// A UUID property value. `auto` parses to a fresh random UUID, as QEMU does
/// at set time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QemuUuid(pub uuid::Uuid);

impl QemuUuid {
    /// A fresh random (version 4) UUID: what `auto` means.
    pub fn auto() -> Self {
        QemuUuid(uuid::Uuid::new_v4())
    }

    /// Parses the 36-character hyphenated form (any case), as `qemu_uuid_parse` does.
    pub fn parse_str(s: &str) -> Option<Self> {
        if s.len() != 36 {
            return None;
        }
        uuid::Uuid::try_parse(s).ok().map(QemuUuid)
    }
}

impl PropertyKind for QemuUuid {
    const TYPE_NAME: &'static str = "str";
    const DESCRIPTION: Option<&'static str> =
        Some("UUID (aka GUID) or \"auto\" for random value (default)");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        if s == "auto" {
            return Ok(Self::auto());
        }
        Self::parse_str(s).ok_or_else(|| cx.doesnt_take(s))
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        Self::parse(cx.json_str(v)?, cx)
    }

    fn to_json(&self) -> Value {
        self.0.hyphenated().to_string().into()
    }

    fn print(&self) -> String {
        self.0.hyphenated().to_string()
    }

    /// A UUID property's only static default is QEMU's `auto`
    /// (`default = QemuUuid::auto()`), a fresh value per instance.
    fn default_value(&self) -> DefaultValue {
        DefaultValue::Str("auto")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_forms() {
        let cx = ValueCx::new("vfio-pci", "vf-token");
        let u = QemuUuid::parse("2AB0A9A3-2C1E-4F4B-9D0B-2A4A3E0C1D2E", &cx).unwrap();
        assert_eq!(u.print(), "2ab0a9a3-2c1e-4f4b-9d0b-2a4a3e0c1d2e");
        assert_ne!(
            QemuUuid::parse("auto", &cx).unwrap(),
            QemuUuid::parse("auto", &cx).unwrap()
        );
        assert_eq!(
            QemuUuid::parse("2ab0a9a32c1e4f4b9d0b2a4a3e0c1d2e", &cx)
                .unwrap_err()
                .to_string(),
            "Property 'vfio-pci.vf-token' doesn't take value '2ab0a9a32c1e4f4b9d0b2a4a3e0c1d2e'"
        );
    }
}
