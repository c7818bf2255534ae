//! Which glibc a Linux binary needs, read from its ELF version requirements (`.gnu.version_r`).
//!
//! The `provided.al2023` runtime ships glibc 2.34; a binary that references a newer symbol
//! version fails at cold start with "version `GLIBC_2.xx' not found", so opsctl refuses it first.

use object::elf::FileHeader64;
use object::read::elf::FileHeader;
use object::{Endianness, FileKind};

/// glibc of Lambda's `provided.al2023` runtime.
pub const PROVIDED_AL2023: GlibcVersion = GlibcVersion(2, 34);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32);

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl GlibcVersion {
    /// Parses `GLIBC_2.34` (and `GLIBC_2.2.5`, keeping major.minor).
    pub fn from_symbol_version(name: &str) -> Option<Self> {
        let mut parts = name.strip_prefix("GLIBC_")?.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Self(major, minor))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GlibcError {
    #[error("not a 64-bit ELF binary")]
    NotElf64,
    #[error("malformed ELF: {0}")]
    Malformed(#[from] object::read::Error),
}

/// The newest glibc symbol version the binary requires, or `None` for a static binary.
pub fn required_glibc(binary: &[u8]) -> Result<Option<GlibcVersion>, GlibcError> {
    if FileKind::parse(binary)? != FileKind::Elf64 {
        return Err(GlibcError::NotElf64);
    }
    let header = FileHeader64::<Endianness>::parse(binary)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, binary)?;
    let Some((mut needs, link)) = sections.gnu_verneed(endian, binary)? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, binary, link)?;
    let mut newest = None;
    while let Some((_, mut aux)) = needs.next()? {
        while let Some(entry) = aux.next()? {
            let name = String::from_utf8_lossy(entry.name(endian, strings)?);
            if let Some(v) = GlibcVersion::from_symbol_version(&name) {
                newest = newest.max(Some(v));
            }
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_symbol_versions() {
        assert_eq!(GlibcVersion::from_symbol_version("GLIBC_2.34"), Some(GlibcVersion(2, 34)));
        assert_eq!(GlibcVersion::from_symbol_version("GLIBC_2.2.5"), Some(GlibcVersion(2, 2)));
        assert_eq!(GlibcVersion::from_symbol_version("GLIBC_PRIVATE"), None);
        assert!(GlibcVersion(2, 35) > PROVIDED_AL2023);
        assert!(GlibcVersion(2, 9) < PROVIDED_AL2023);
    }

    #[test]
    fn reads_a_real_binary_and_rejects_non_elf() {
        let bytes = std::fs::read("/bin/sh").unwrap();
        let v = required_glibc(&bytes).unwrap().expect("/bin/sh links glibc");
        assert!(v >= GlibcVersion(2, 2));
        assert!(matches!(
            required_glibc(b"#!/bin/sh\necho hi\n"),
            Err(GlibcError::Malformed(_) | GlibcError::NotElf64)
        ));
    }
}
