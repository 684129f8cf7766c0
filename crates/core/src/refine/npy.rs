//! `.npy` files (NumPy's format) through the `ndarray-npy` crate, for low-resolution logits
//! given to `samurai-roto refine`, `samurai-roto shapes --logits` and the evaluation harness.
//! Reads `<f4`, `<f8`, `|u1`, `|b1` (either byte order, C or Fortran order) as f32 in C
//! order; writes `<f4` and `|u1`.
use crate::error::{Error, Result};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement, WritableElement, WriteNpyError};
use std::path::Path;

/// An array read from a `.npy` file: its shape and values (as f32, C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Reads `bytes` as an array of `T`, its values converted to f32 in C order.
fn parse_as<T: ReadableElement + Copy>(bytes: &[u8], to_f32: fn(T) -> f32) -> std::result::Result<NpyArray, ReadNpyError> {
    let a = ArrayD::<T>::read_npy(bytes)?;
    // `iter` walks the logical (C) order whatever the memory layout (Fortran-order files).
    Ok(NpyArray { shape: a.shape().to_vec(), data: a.iter().map(|&v| to_f32(v)).collect() })
}

/// Parses a `.npy` file's bytes.
pub fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    // ndarray-npy reads one element type at a time: try each type this reader takes; a
    // file of another dtype fails every try with the same "incorrect descriptor" error.
    let tries: [fn(&[u8]) -> std::result::Result<NpyArray, ReadNpyError>; 4] = [
        |b| parse_as::<f32>(b, |v| v),
        |b| parse_as::<f64>(b, |v| v as f32),
        |b| parse_as::<u8>(b, |v| v as f32),
        |b| parse_as::<bool>(b, |v| v as u8 as f32),
    ];
    let mut unsupported = None;
    for parse in tries {
        match parse(bytes) {
            Ok(a) => return Ok(a),
            Err(ReadNpyError::WrongDescriptor(descr)) => unsupported = Some(descr),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(match unsupported {
        Some(descr) => format!("unsupported dtype {descr} (reads <f4, <f8, |u1, |b1)"),
        None => "unreadable .npy file".into(),
    })
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes).map_err(|r| Error::invalid(path.display().to_string(), r))
}

/// Writes `data` (C order, `shape`) as a `.npy` file of `T`.
fn write<T: WritableElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let view = ArrayViewD::from_shape(IxDyn(shape), data).map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
    ndarray_npy::write_npy(path, &view).map_err(|e| match e {
        WriteNpyError::Io(e) => Error::io(path, e),
        other => Error::invalid(path.display().to_string(), other.to_string()),
    })
}

/// Writes `data` (C order, `shape`) as a little-endian f32 `.npy` file.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "write_f32: shape and data disagree");
    write(path, shape, data)
}

/// Writes `data` (C order, `shape`) as a u8 `.npy` file.
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "write_u8: shape and data disagree");
    write(path, shape, data)
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

    /// A version-1 `.npy` file as NumPy writes it: `header` padded, then `body`.
    fn numpy_file(header: &str, body: &[u8]) -> Vec<u8> {
        let mut hdr = header.to_string();
        while !(10 + hdr.len() + 1).is_multiple_of(64) {
            hdr.push(' ');
        }
        hdr.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(hdr.len() as u16).to_le_bytes());
        b.extend_from_slice(hdr.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn parses_numpy_header() {
        // np.save of np.array([1.5], dtype='<f8'): header as NumPy writes it.
        let b = numpy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", &1.5f64.to_le_bytes());
        assert_eq!(parse(&b).unwrap(), NpyArray { shape: vec![1], data: vec![1.5] });
    }

    #[test]
    fn reads_bool_and_fortran_order_in_c_order() {
        let b = numpy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", &[1, 0, 1]);
        assert_eq!(parse(&b).unwrap().data, vec![1.0, 0.0, 1.0]);
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let body: Vec<u8> = [1f32, 4.0, 2.0, 5.0, 3.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = numpy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &body);
        assert_eq!(parse(&b).unwrap(), NpyArray { shape: vec![2, 3], data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] });
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ints.npy");
        std::fs::write(&p, numpy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", &7i32.to_le_bytes())).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("ints.npy") && err.contains("unsupported dtype") && err.contains("<i4"), "{err}");
        let p = dir.path().join("short.npy");
        std::fs::write(&p, numpy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", &[0; 8])).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("short.npy"), "{err}");
        std::fs::write(&p, b"not numpy").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("short.npy"));
        let missing = dir.path().join("missing.npy");
        assert!(read(&missing).unwrap_err().to_string().contains("missing.npy"));
    }
}
