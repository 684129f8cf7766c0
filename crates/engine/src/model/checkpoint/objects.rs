//! The data model of the restricted pickle machine (no paper block: checkpoint I/O;
//! reference: what `torch.save` pickles for a state dict, see `torch/_utils.py`
//! `_rebuild_tensor_v2` and the release files read by `sam2/build_sam.py::_load_checkpoint`).
//!
//! Unpickled objects live in an arena ([`Unpickled`]); containers refer to each other by
//! index. Tensors stay descriptions ([`TensorSpec`]) until the archive reader cuts them out
//! of their storage records.
use std::collections::HashMap;
use tch::Kind;

/// A storage named by a persistent id; its bytes are the archive record `data/<key>`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    /// Record name inside the archive's `data/` folder.
    pub key: String,
    /// Element type of the storage.
    pub kind: Kind,
    /// Number of elements the storage holds.
    pub numel: i64,
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub storage: StorageRef,
    /// Offset of the first element, in elements.
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

impl TensorSpec {
    /// Checks that the view lies inside its storage (non-negative sizes, strides and offset,
    /// no arithmetic overflow, last addressed element < storage numel, no more elements than
    /// the storage).
    pub fn check_fits(&self) -> Result<(), String> {
        let bad = |what: &str| {
            Err(format!(
                "{what}: size {:?}, stride {:?}, offset {} do not fit in storage '{}' of {} element(s)",
                self.size, self.stride, self.offset, self.storage.key, self.storage.numel
            ))
        };
        if self.size.len() != self.stride.len() {
            return bad("size and stride have different lengths");
        }
        if self.offset < 0 || self.size.iter().chain(&self.stride).any(|&v| v < 0) {
            return bad("negative size, stride or offset");
        }
        let numel = self.size.iter().try_fold(1i64, |acc, &s| acc.checked_mul(s));
        let last = self
            .size
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset, |acc, (&s, &st)| (s.max(1) - 1).checked_mul(st).and_then(|span| acc.checked_add(span)));
        match (numel, last) {
            (None, _) | (_, None) => bad("size/stride arithmetic overflows"),
            // A view with more elements than its storage (zero strides) would be
            // materialised by a copy larger than anything in the file: no state dict holds one.
            (Some(n), _) if n > self.storage.numel => bad("storage too small for the tensor (more elements than the storage holds)"),
            (Some(0), _) if self.offset <= self.storage.numel => Ok(()),
            (Some(n), Some(last)) if n > 0 && last < self.storage.numel => Ok(()),
            _ => bad("storage too small for the tensor"),
        }
    }
}

/// The globals a state dict may name; everything else is refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(Kind),
}

/// An insertion-ordered dict with string keys (all a state dict and its metadata need).
#[derive(Debug, Default)]
pub(super) struct Dict {
    pub(super) items: Vec<(String, usize)>,
    pub(super) index: HashMap<String, usize>,
}

/// One unpickled object. Containers hold arena indices.
#[derive(Debug)]
pub(super) enum Obj {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Dict),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorSpec),
}

impl Obj {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool => "bool",
            Obj::Int(_) => "int",
            Obj::Float => "float",
            Obj::Str(_) => "str",
            Obj::Tuple(_) => "tuple",
            Obj::List(_) => "list",
            Obj::Dict(_) => "dict",
            Obj::Global(_) => "global",
            Obj::Storage(_) => "storage",
            Obj::Tensor(_) => "tensor",
        }
    }
}

/// The result of running a pickle: the object arena and the returned object.
#[derive(Debug)]
pub struct Unpickled {
    pub(super) objs: Vec<Obj>,
    pub(super) root: usize,
}

impl Unpickled {
    /// The state dict: `root["model"]` when the root is `{"model": {...}}`, otherwise the root
    /// itself when it is a dict of tensors. Entries come in file order.
    pub fn state_dict(&self) -> Result<Vec<(String, TensorSpec)>, String> {
        let Obj::Dict(root) = &self.objs[self.root] else {
            return Err(format!("the pickle holds a {}, not a dict", self.objs[self.root].type_name()));
        };
        let all_tensors = |d: &Dict| d.items.iter().all(|(_, v)| matches!(self.objs[*v], Obj::Tensor(_)));
        let dict = match root.index.get("model").map(|&i| &self.objs[root.items[i].1]) {
            Some(Obj::Dict(model)) => model,
            _ if !root.items.is_empty() && all_tensors(root) => root,
            _ => {
                let keys: Vec<&str> = root.items.iter().take(10).map(|(k, _)| k.as_str()).collect();
                return Err(format!("no \"model\" key holding a state dict (top-level keys: {keys:?})"));
            }
        };
        if dict.items.is_empty() {
            return Err("the state dict is empty".into());
        }
        let entry = |(key, id): &(String, usize)| match &self.objs[*id] {
            Obj::Tensor(spec) => Ok((key.clone(), spec.clone())),
            other => Err(format!("state dict entry '{key}' is a {}, not a tensor", other.type_name())),
        };
        dict.items.iter().map(entry).collect()
    }
}

/// The name of an opcode, for error messages.
pub(super) fn opcode_name(op: u8) -> &'static str {
    #[rustfmt::skip]
    const NAMES: &[(u8, &str)] = &[
        (0x80, "PROTO"), (0x95, "FRAME"), (b'(', "MARK"), (b'}', "EMPTY_DICT"), (b'd', "DICT"),
        (b')', "EMPTY_TUPLE"), (b't', "TUPLE"), (0x85, "TUPLE1"), (0x86, "TUPLE2"), (0x87, "TUPLE3"),
        (b']', "EMPTY_LIST"), (b'l', "LIST"), (b'a', "APPEND"), (b'e', "APPENDS"), (b's', "SETITEM"),
        (b'u', "SETITEMS"), (b'X', "BINUNICODE"), (0x8c, "SHORT_BINUNICODE"), (0x8d, "BINUNICODE8"),
        (b'J', "BININT"), (b'K', "BININT1"), (b'M', "BININT2"), (0x8a, "LONG1"), (b'G', "BINFLOAT"),
        (0x88, "NEWTRUE"), (0x89, "NEWFALSE"), (b'N', "NONE"), (b'c', "GLOBAL"), (0x93, "STACK_GLOBAL"),
        (b'R', "REDUCE"), (b'b', "BUILD"), (b'Q', "BINPERSID"), (b'q', "BINPUT"), (b'r', "LONG_BINPUT"),
        (0x94, "MEMOIZE"), (b'h', "BINGET"), (b'j', "LONG_BINGET"), (b'.', "STOP"), (b'S', "STRING"),
        (b'T', "BINSTRING"), (b'U', "SHORT_BINSTRING"), (b'V', "UNICODE"), (b'I', "INT"), (b'L', "LONG"),
        (b'F', "FLOAT"), (0x8b, "LONG4"), (b'B', "BINBYTES"), (b'C', "SHORT_BINBYTES"), (0x8e, "BINBYTES8"),
        (b'P', "PERSID"), (b'i', "INST"), (b'o', "OBJ"), (0x81, "NEWOBJ"), (0x92, "NEWOBJ_EX"),
        (b'0', "POP"), (b'1', "POP_MARK"), (b'2', "DUP"), (b'g', "GET"), (b'p', "PUT"),
        (0x82, "EXT1"), (0x83, "EXT2"), (0x84, "EXT4"), (0x8f, "EMPTY_SET"), (0x90, "ADDITEMS"),
        (0x91, "FROZENSET"), (0x96, "BYTEARRAY8"), (0x97, "NEXT_BUFFER"), (0x98, "READONLY_BUFFER"),
    ];
    NAMES.iter().find(|(code, _)| *code == op).map_or("<unknown>", |(_, name)| name)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::checkpoint::pickle::unpickle;

    /// One tensor entry for [`torch_like_pickle`].
    pub struct Entry<'a> {
        pub name: &'a str,
        pub storage_type: &'a str,
        pub key: &'a str,
        pub numel: u32,
        pub offset: u32,
        pub size: &'a [u32],
        pub stride: &'a [u32],
    }

    fn text(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }

    fn int(p: &mut Vec<u8>, v: u32) {
        match v {
            0..=255 => p.extend([b'K', v as u8]),
            _ => {
                p.push(b'J');
                p.extend(v.to_le_bytes());
            }
        }
    }

    fn ints(p: &mut Vec<u8>, vs: &[u32]) {
        p.push(b'(');
        vs.iter().for_each(|&v| int(p, v));
        p.push(b't');
    }

    /// The same opcode sequence `torch.save({"model": state_dict}, f)` writes (protocol 2,
    /// memoised OrderedDict global, `_metadata` set through BUILD). `wrap` = false writes a
    /// bare state dict.
    pub fn torch_like_pickle(entries: &[Entry], wrap: bool) -> Vec<u8> {
        let mut p = vec![0x80, 2];
        if wrap {
            p.extend([b'}', b'q', 0]);
            text(&mut p, "model");
        }
        p.extend(b"ccollections\nOrderedDict\nq\x02)Rq\x03(");
        for e in entries {
            text(&mut p, e.name);
            p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
            text(&mut p, "storage");
            p.extend(format!("ctorch\n{}\n", e.storage_type).as_bytes());
            text(&mut p, e.key);
            text(&mut p, "cpu");
            int(&mut p, e.numel);
            p.extend(b"tQ");
            int(&mut p, e.offset);
            ints(&mut p, e.size);
            ints(&mut p, e.stride);
            p.extend(b"\x89h\x02)RtR");
        }
        p.extend(b"u}q\x04");
        text(&mut p, "_metadata");
        p.extend(b"h\x02)R(");
        text(&mut p, "");
        p.extend(b"}");
        text(&mut p, "version");
        p.extend(b"K\x01sus");
        p.extend(if wrap { &b"bs."[..] } else { &b"b."[..] });
        p
    }

    pub fn sample_entries() -> Vec<Entry<'static>> {
        vec![
            Entry { name: "w", storage_type: "FloatStorage", key: "0", numel: 6, offset: 0, size: &[2, 3], stride: &[3, 1] },
            Entry { name: "w_t", storage_type: "FloatStorage", key: "0", numel: 6, offset: 1, size: &[2, 2], stride: &[1, 3] },
            Entry { name: "n", storage_type: "LongStorage", key: "1", numel: 1, offset: 0, size: &[], stride: &[] },
            Entry { name: "big", storage_type: "BoolStorage", key: "2", numel: 300, offset: 0, size: &[300], stride: &[1] },
        ]
    }

    fn spec(key: &str, kind: Kind, numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> TensorSpec {
        let storage = StorageRef { key: key.into(), kind, numel };
        TensorSpec { storage, offset, size: size.to_vec(), stride: stride.to_vec() }
    }

    #[test]
    fn torch_layout_gives_specs_in_file_order() {
        for wrap in [true, false] {
            let sd = unpickle(&torch_like_pickle(&sample_entries(), wrap)).unwrap().state_dict().unwrap();
            let names: Vec<&str> = sd.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["w", "w_t", "n", "big"]);
            assert_eq!(sd[1].1, spec("0", Kind::Float, 6, 1, &[2, 2], &[1, 3]));
            assert_eq!(sd[2].1, spec("1", Kind::Int64, 1, 0, &[], &[]));
            assert_eq!(sd[3].1, spec("2", Kind::Bool, 300, 0, &[300], &[1]));
        }
    }

    #[test]
    fn state_dict_errors_name_the_problem() {
        // {"epoch": 3}
        let err = unpickle(b"\x80\x02}X\x05\x00\x00\x00epochK\x03s.").unwrap().state_dict().unwrap_err();
        assert!(err.contains("no \"model\" key") && err.contains("epoch"), "{err}");
        // {"model": {"step": 1}}
        let err = unpickle(b"\x80\x02}X\x05\x00\x00\x00model}X\x04\x00\x00\x00stepK\x01ss.").unwrap().state_dict();
        assert!(err.unwrap_err().contains("'step' is a int, not a tensor"));
        // [] at the top, {"model": {}}
        assert!(unpickle(b"\x80\x02].").unwrap().state_dict().unwrap_err().contains("list, not a dict"));
        let err = unpickle(b"\x80\x02}X\x05\x00\x00\x00model}s.").unwrap().state_dict().unwrap_err();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn check_fits_bounds() {
        let ok = |s: TensorSpec| s.check_fits().is_ok();
        assert!(ok(spec("0", Kind::Float, 6, 0, &[2, 3], &[3, 1])));
        assert!(ok(spec("0", Kind::Float, 6, 1, &[2, 2], &[1, 3]))); // last element 1 + 1 + 3 = 5
        assert!(ok(spec("0", Kind::Float, 6, 6, &[0, 4], &[4, 1]))); // empty view at the end
        assert!(ok(spec("0", Kind::Float, 1, 0, &[], &[])));
        let err = |s: TensorSpec| s.check_fits().unwrap_err();
        assert!(err(spec("0", Kind::Float, 6, 1, &[2, 3], &[3, 1])).contains("storage too small"));
        assert!(err(spec("0", Kind::Float, 0, 0, &[], &[])).contains("storage too small"));
        assert!(err(spec("0", Kind::Float, 6, 7, &[0], &[1])).contains("storage too small"));
        assert!(err(spec("0", Kind::Float, 6, -1, &[2], &[1])).contains("negative"));
        assert!(err(spec("0", Kind::Float, 6, 0, &[2], &[-1])).contains("negative"));
        assert!(err(spec("0", Kind::Float, 6, 0, &[2, 2], &[1])).contains("lengths"));
        assert!(err(spec("0", Kind::Float, 6, 0, &[i64::MAX, 2], &[1, 1])).contains("overflow"));
        assert!(err(spec("0", Kind::Float, 6, 0, &[3, 3], &[i64::MAX, 1])).contains("overflow"));
        // Zero strides: a billion elements out of a 2-element storage.
        assert!(err(spec("0", Kind::Float, 2, 0, &[1 << 30], &[0])).contains("more elements than the storage"));
    }
}
