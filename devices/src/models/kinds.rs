//! Property kinds only these devices use: the PCI bus number QEMU shows as
//! `busnr` and the NVIDIA GPUDirect clique.

use qomgen::{DefaultValue, Error, PropertyKind, Result, ValueCx};
use serde_json::Value;

/// The output half of [`PropertyKind`] for a newtype over `u8`: JSON,
/// printed and default forms are the number's.
macro_rules! u8_output {
    () => {
        fn to_json(&self) -> Value {
            self.0.into()
        }

        fn print(&self) -> String {
            self.0.to_string()
        }

        fn default_value(&self) -> DefaultValue {
            DefaultValue::UInt(self.0.into())
        }
    };
}

/// The secondary bus number of a PCI device (read-only, type `busnr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusNr(pub u8);

impl PropertyKind for BusNr {
    const TYPE_NAME: &'static str = "busnr";

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        u8::parse(s, cx).map(BusNr)
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        u8::from_json(v, cx).map(BusNr)
    }

    u8_output!();
}

/// NVIDIA GPUDirect P2P clique id, 0 to 15 (type `uint8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuDirectClique(pub u8);

impl GpuDirectClique {
    fn check(v: u8, cx: &ValueCx<'_>) -> Result<Self> {
        if v > 15 {
            return Err(Error::new(format!(
                "Property {}: valid range 0-15",
                cx.prop
            )));
        }
        Ok(GpuDirectClique(v))
    }
}

impl PropertyKind for GpuDirectClique {
    const TYPE_NAME: &'static str = "uint8";
    const DESCRIPTION: Option<&'static str> = Some("NVIDIA GPUDirect Clique ID (0 - 15)");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        Self::check(u8::parse(s, cx)?, cx)
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        Self::check(u8::from_json(v, cx)?, cx)
    }

    u8_output!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clique_range() {
        let cx = ValueCx::new("vfio-pci", "x-nv-gpudirect-clique");
        let parse = |s| GpuDirectClique::parse(s, &cx).map_err(|e| e.to_string());
        assert_eq!(parse("15"), Ok(GpuDirectClique(15)));
        for (s, text) in [
            ("16", "Property x-nv-gpudirect-clique: valid range 0-15"),
            ("256", "Parameter 'x-nv-gpudirect-clique' expects uint8_t"),
        ] {
            assert_eq!(parse(s), Err(text.to_owned()), "{s}");
        }
    }
}
