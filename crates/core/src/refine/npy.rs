//! Minimal `.npy` reading and writing (NumPy's format, versions 1–3, C order), for
//! low-resolution logits given to `samurai-roto refine` and the evaluation harness.
//! Reads `<f4`, `<f8`, `|u1`, `|b1` as f32; writes `<f4` and `|u1`.
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// An array read from a `.npy` file: its shape and values (as f32, C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The value of `key` in the header dictionary (the text after `'key':`).
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    Some(header[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start())
}

/// The quoted string at the start of `s` (`'<f4'` or `"<f4"`), without its quotes.
fn quoted(s: &str) -> Option<&str> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    s[1..].split(q).next()
}

/// Parses the shape tuple at the start of `s`, e.g. `(256, 256), ...`.
fn parse_shape(s: &str) -> Option<Vec<usize>> {
    let inner = s.strip_prefix('(')?.split(')').next()?;
    inner.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| t.parse().ok()).collect()
}

/// Parses a `.npy` file's bytes.
pub fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(bytes.get(start..start + hlen).ok_or("truncated header")?).map_err(|e| e.to_string())?;
    let descr = header_field(header, "descr").ok_or("no descr")?;
    if header_field(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape = header_field(header, "shape").and_then(parse_shape).ok_or("bad shape")?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + hlen..];
    let (size, conv): (usize, fn(&[u8]) -> f32) = match quoted(descr).ok_or("bad descr")? {
        "<f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32),
        "|u1" | "|b1" => (1, |b| b[0] as f32),
        other => return Err(format!("unsupported dtype {other}")),
    };
    if body.len() < n * size {
        return Err(format!("truncated data: {} bytes for {n} values of {size}", body.len()));
    }
    Ok(NpyArray { shape, data: body[..n * size].chunks_exact(size).map(conv).collect() })
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes).map_err(|r| Error::invalid(path.display().to_string(), r))
}

/// The bytes of a version-1 `.npy` file holding `data` (C order) with `descr`.
fn encode(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `data` (C order, `shape`) as a little-endian f32 `.npy` file.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "write_f32: shape and data disagree");
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_bytes(path, &encode("<f4", shape, &bytes))
}

/// Writes `data` (C order, `shape`) as a u8 `.npy` file.
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "write_u8: shape and data disagree");
    write_bytes(path, &encode("|u1", shape, data))
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_f32(&p, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, -5.5]).unwrap();
        let a = read(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, -5.5]);
        write_u8(&p, &[4], &[0, 128, 255, 7]).unwrap();
        assert_eq!(read(&p).unwrap().data, vec![0.0, 128.0, 255.0, 7.0]);
    }

    #[test]
    fn parses_numpy_header() {
        // np.save of np.array([1.5], dtype='<f8'): header as NumPy writes it.
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
        let mut hdr = h.to_string();
        while !(10 + hdr.len() + 1).is_multiple_of(64) {
            hdr.push(' ');
        }
        hdr.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(hdr.len() as u16).to_le_bytes());
        b.extend_from_slice(hdr.as_bytes());
        b.extend_from_slice(&1.5f64.to_le_bytes());
        assert_eq!(parse(&b).unwrap(), NpyArray { shape: vec![1], data: vec![1.5] });
    }
}
