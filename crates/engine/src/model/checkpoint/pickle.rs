//! A strict, non-executing reader for the `data.pkl` pickle that `torch.save` writes into a
//! checkpoint archive (no paper block: this is checkpoint I/O; reference: the SAM 2.1
//! release files loaded by `sam2/build_sam.py::_load_checkpoint` through `torch.load`).
//!
//! The pickle is run on a small stack machine that knows only the opcodes a state dict needs
//! (protocol 2 as `torch.save` writes it, plus FRAME / SHORT_BINUNICODE / STACK_GLOBAL /
//! MEMOIZE from later protocols). Objects live in an arena and the stack, the memo and the
//! containers refer to them by index, so memo sharing behaves like Python's and a hostile
//! pickle cannot make copies explode. Globals are never imported: the few a state dict uses
//! are recognised by name and turned into plain data; any other name is an error.
use super::objects::{opcode_name, Dict, Global, Obj, StorageRef, TensorSpec, Unpickled};
use std::collections::HashMap;
use tch::Kind;

type R<T> = Result<T, String>;

/// Runs `data` on the restricted machine. Errors name the opcode and its byte offset.
pub fn unpickle(data: &[u8]) -> R<Unpickled> {
    let mut m = Machine { data, pos: 0, objs: Vec::new(), stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() };
    loop {
        let at = m.pos;
        let Some(&op) = data.get(at) else {
            return Err(format!("the pickle ends at byte {at} without a STOP opcode: it is truncated"));
        };
        m.pos += 1;
        if op == b'.' {
            return m.finish(at);
        }
        m.step(op).map_err(|e| format!("{e} (opcode {} = 0x{op:02x} at byte {at})", opcode_name(op)))?;
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
}

impl<'a> Machine<'a> {
    /// Executes one opcode (the STOP opcode is handled by the caller).
    fn step(&mut self, op: u8) -> R<()> {
        match op {
            0x80 => match self.take(1)?[0] {
                v @ 0..=5 => tracing::trace!(protocol = v, "pickle protocol"),
                v => return Err(format!("pickle protocol {v} is not supported")),
            },
            0x95 => drop(self.take(8)?),
            b'(' => self.marks.push(self.stack.len()),
            b'}' => self.push(Obj::Dict(Dict::default())),
            b')' => self.push(Obj::Tuple(Vec::new())),
            b']' => self.push(Obj::List(Vec::new())),
            b't' => self.pop_mark().map(|v| self.push(Obj::Tuple(v)))?,
            0x85..=0x87 => self.pop_n(usize::from(op - 0x84)).map(|v| self.push(Obj::Tuple(v)))?,
            b'l' => self.pop_mark().map(|v| self.push(Obj::List(v)))?,
            b'd' => {
                let items = self.pop_mark()?;
                self.push(Obj::Dict(Dict::default()));
                self.set_items(items)?;
            }
            b'a' => self.pop_n(1).and_then(|v| self.append(v))?,
            b'e' => self.pop_mark().and_then(|v| self.append(v))?,
            b's' => self.pop_n(2).and_then(|v| self.set_items(v))?,
            b'u' => self.pop_mark().and_then(|v| self.set_items(v))?,
            b'X' | 0x8c | 0x8d | b'J' | b'K' | b'M' | 0x8a | b'G' | 0x88 | 0x89 | b'N' => self.scalar(op)?,
            b'c' => {
                let (module, name) = (self.line()?, self.line()?);
                self.global(&module, &name)?;
            }
            0x93 => {
                let name = self.pop_n(1).and_then(|v| self.str_of(v[0]).map(str::to_owned))?;
                let module = self.pop_n(1).and_then(|v| self.str_of(v[0]).map(str::to_owned))?;
                self.global(&module, &name)?;
            }
            b'R' => self.reduce()?,
            b'b' => self.build()?,
            b'Q' => self.persistent_id()?,
            b'q' => self.take(1).map(|b| u32::from(b[0])).and_then(|i| self.put(i))?,
            b'r' => self.u32().and_then(|i| self.put(i))?,
            0x94 => u32::try_from(self.memo.len()).map_err(|_| "memo too large".to_string()).and_then(|i| self.put(i))?,
            b'h' => self.take(1).map(|b| u32::from(b[0])).and_then(|i| self.get(i))?,
            b'j' => self.u32().and_then(|i| self.get(i))?,
            _ => return Err("unsupported pickle opcode (a state dict never needs it)".into()),
        }
        Ok(())
    }

    /// Pushes a string, integer, float, bool or None read from the opcode's operand.
    fn scalar(&mut self, op: u8) -> R<()> {
        let obj = match op {
            b'X' => return self.u32().and_then(|n| self.string(u64::from(n))),
            0x8c => return self.take(1).and_then(|n| self.string(u64::from(n[0]))),
            0x8d => return self.array().and_then(|n| self.string(u64::from_le_bytes(n))),
            b'J' => Obj::Int(i64::from(i32::from_le_bytes(self.array()?))),
            b'K' => Obj::Int(i64::from(self.take(1)?[0])),
            b'M' => Obj::Int(i64::from(u16::from_le_bytes(self.array()?))),
            0x8a => return self.long1(),
            b'G' => self.take(8).map(|_| Obj::Float)?,
            0x88 | 0x89 => Obj::Bool,
            _ => Obj::None,
        };
        self.push(obj);
        Ok(())
    }

    fn finish(mut self, at: usize) -> R<Unpickled> {
        if self.stack.len() != 1 || !self.marks.is_empty() {
            return Err(format!(
                "STOP at byte {at} with {} object(s) on the stack and {} open MARK(s) (expected one object)",
                self.stack.len(),
                self.marks.len()
            ));
        }
        let root = self.stack.pop().unwrap_or_default();
        Ok(Unpickled { objs: self.objs, root })
    }

    // ---- reading the byte stream -------------------------------------------------------

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let end = self.pos.checked_add(n).filter(|&e| e <= data.len());
        let end = end.ok_or_else(|| format!("needs {n} more byte(s) but the pickle ends: it is truncated"))?;
        let bytes = &data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> R<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// A newline-terminated ASCII name (GLOBAL operands), at most 256 bytes.
    fn line(&mut self) -> R<String> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let len = rest.iter().take(256).position(|&b| b == b'\n').ok_or("unterminated global name")?;
        let bytes = self.take(len + 1)?;
        let name = &bytes[..len];
        if !name.iter().all(|b| b.is_ascii_graphic()) {
            return Err("global name is not printable ASCII".into());
        }
        Ok(String::from_utf8_lossy(name).into_owned())
    }

    fn string(&mut self, len: u64) -> R<()> {
        let len = usize::try_from(len).map_err(|_| "string length does not fit in memory")?;
        let text = std::str::from_utf8(self.take(len)?).map_err(|_| "string is not valid UTF-8")?;
        self.push(Obj::Str(text.to_owned()));
        Ok(())
    }

    /// LONG1: a little-endian two's-complement integer of up to 8 bytes.
    fn long1(&mut self) -> R<()> {
        let n = usize::from(self.take(1)?[0]);
        if n > 8 {
            return Err(format!("{n}-byte integer does not fit in 64 bits"));
        }
        let bytes = self.take(n)?;
        let mut buf = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { [0xffu8; 8] } else { [0u8; 8] };
        buf[..n].copy_from_slice(bytes);
        self.push(Obj::Int(i64::from_le_bytes(buf)));
        Ok(())
    }

    // ---- stack, marks and memo ---------------------------------------------------------

    fn push(&mut self, obj: Obj) {
        self.objs.push(obj);
        self.stack.push(self.objs.len() - 1);
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop_n(&mut self, n: usize) -> R<Vec<usize>> {
        if self.stack.len() < self.floor() + n {
            return Err(format!("stack underflow: needs {n} object(s)"));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self) -> R<Vec<usize>> {
        let mark = self.marks.pop().ok_or("no MARK on the stack")?;
        Ok(self.stack.split_off(mark))
    }

    fn top(&self) -> R<usize> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.floor() => Ok(id),
            _ => Err("stack underflow: the target object is missing".into()),
        }
    }

    fn put(&mut self, index: u32) -> R<()> {
        let id = self.top()?;
        self.memo.insert(index, id);
        Ok(())
    }

    fn get(&mut self, index: u32) -> R<()> {
        let id = *self.memo.get(&index).ok_or_else(|| format!("memo entry {index} was never stored"))?;
        self.stack.push(id);
        Ok(())
    }

    // ---- containers --------------------------------------------------------------------

    fn str_of(&self, id: usize) -> R<&str> {
        match &self.objs[id] {
            Obj::Str(s) => Ok(s),
            other => Err(format!("expected a str, found a {}", other.type_name())),
        }
    }

    fn set_items(&mut self, items: Vec<usize>) -> R<()> {
        let target = self.top()?;
        if !items.len().is_multiple_of(2) {
            return Err("odd number of items for a dict".into());
        }
        for pair in items.chunks_exact(2) {
            let key = self.str_of(pair[0]).map_err(|e| format!("dict key: {e}"))?.to_owned();
            let Obj::Dict(dict) = &mut self.objs[target] else {
                return Err(format!("SETITEM(S) on a {}", self.objs[target].type_name()));
            };
            match dict.index.get(&key) {
                Some(&slot) => dict.items[slot].1 = pair[1],
                None => {
                    dict.index.insert(key.clone(), dict.items.len());
                    dict.items.push((key, pair[1]));
                }
            }
        }
        Ok(())
    }

    fn append(&mut self, values: Vec<usize>) -> R<()> {
        let target = self.top()?;
        match &mut self.objs[target] {
            Obj::List(list) => {
                list.extend(values);
                Ok(())
            }
            other => Err(format!("APPEND(S) on a {}", other.type_name())),
        }
    }

    // ---- globals and calls -------------------------------------------------------------

    fn global(&mut self, module: &str, name: &str) -> R<()> {
        let storage = |kind| Some(Global::Storage(kind));
        let global = match (module, name) {
            ("collections", "OrderedDict") => Some(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
            ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
            ("torch", "FloatStorage") => storage(Kind::Float),
            ("torch", "HalfStorage") => storage(Kind::Half),
            ("torch", "BFloat16Storage") => storage(Kind::BFloat16),
            ("torch", "DoubleStorage") => storage(Kind::Double),
            ("torch", "LongStorage") => storage(Kind::Int64),
            ("torch", "IntStorage") => storage(Kind::Int),
            ("torch", "ShortStorage") => storage(Kind::Int16),
            ("torch", "CharStorage") => storage(Kind::Int8),
            ("torch", "ByteStorage") => storage(Kind::Uint8),
            ("torch", "BoolStorage") => storage(Kind::Bool),
            _ => None,
        };
        let global = global.ok_or_else(|| {
            format!(
                "unsupported global '{module}.{name}': a state dict only uses collections.OrderedDict, \
                 torch._utils._rebuild_tensor_v2 / _rebuild_parameter and torch.*Storage; refusing the \
                 file (nothing was executed)"
            )
        })?;
        self.push(Obj::Global(global));
        Ok(())
    }

    fn reduce(&mut self) -> R<()> {
        let v = self.pop_n(2)?;
        let Obj::Tuple(args) = &self.objs[v[1]] else {
            return Err(format!("REDUCE arguments are a {}, not a tuple", self.objs[v[1]].type_name()));
        };
        let args = args.clone();
        match self.objs[v[0]] {
            Obj::Global(Global::OrderedDict) if args.is_empty() => self.push(Obj::Dict(Dict::default())),
            Obj::Global(Global::OrderedDict) => return Err("OrderedDict called with arguments".into()),
            Obj::Global(Global::RebuildTensorV2) => {
                let spec = self.rebuild_tensor(&args)?;
                self.push(Obj::Tensor(spec));
            }
            Obj::Global(Global::RebuildParameter) => match (args.len(), args.first().map(|&a| &self.objs[a])) {
                (3, Some(Obj::Tensor(_))) => self.stack.push(args[0]),
                _ => return Err("_rebuild_parameter expects (tensor, requires_grad, hooks)".into()),
            },
            Obj::Global(Global::Storage(_)) => return Err("a storage type may only appear in a persistent id".into()),
            ref other => return Err(format!("REDUCE calls a {}, which is not callable", other.type_name())),
        }
        Ok(())
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    fn rebuild_tensor(&self, args: &[usize]) -> R<TensorSpec> {
        let err = |what: &str| Err(format!("_rebuild_tensor_v2: {what}"));
        if !(6..=7).contains(&args.len()) {
            return err(&format!("expects 6 or 7 arguments, got {}", args.len()));
        }
        let Obj::Storage(storage) = &self.objs[args[0]] else {
            return err("first argument is not a storage (persistent id)");
        };
        let Obj::Int(offset) = self.objs[args[1]] else { return err("storage offset is not an int") };
        let (size, stride) = (self.ints(args[2])?, self.ints(args[3])?);
        if !matches!(self.objs[args[4]], Obj::Bool) {
            return err("requires_grad is not a bool");
        }
        match &self.objs[args[5]] {
            Obj::Dict(hooks) if hooks.items.is_empty() => {}
            _ => return err("backward hooks must be an empty OrderedDict"),
        }
        Ok(TensorSpec { storage: storage.clone(), offset, size, stride })
    }

    fn ints(&self, id: usize) -> R<Vec<i64>> {
        let Obj::Tuple(items) = &self.objs[id] else {
            return Err(format!("expected a tuple of ints, found a {}", self.objs[id].type_name()));
        };
        let int = |&i: &usize| match self.objs[i] {
            Obj::Int(v) => Ok(v),
            ref other => Err(format!("expected an int, found a {}", other.type_name())),
        };
        items.iter().map(int).collect()
    }

    /// BUILD: only the `_metadata` attribute set on a state dict's OrderedDict is accepted.
    fn build(&mut self) -> R<()> {
        let state = self.pop_n(1)?[0];
        let target = self.top()?;
        match (&self.objs[target], &self.objs[state]) {
            (Obj::Dict(_), Obj::Dict(_)) => Ok(()),
            (t, s) => Err(format!("BUILD of a {} with a {} state is not part of a state dict", t.type_name(), s.type_name())),
        }
    }

    /// BINPERSID: `('storage', <torch.XStorage>, key, location, numel)`.
    fn persistent_id(&mut self) -> R<()> {
        let pid = self.pop_n(1)?[0];
        let bad = || "persistent id is not ('storage', StorageType, key, location, numel)".to_string();
        let Obj::Tuple(t) = &self.objs[pid] else { return Err(bad()) };
        let [tag, ty, key, location, numel] = t[..] else { return Err(bad()) };
        let (Obj::Global(Global::Storage(kind)), Obj::Int(numel)) = (&self.objs[ty], &self.objs[numel]) else {
            return Err(bad());
        };
        let (tag, key, _) = (self.str_of(tag)?, self.str_of(key)?, self.str_of(location)?);
        let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if tag != "storage" || !key_ok || *numel < 0 {
            return Err(bad());
        }
        let storage = StorageRef { key: key.to_owned(), kind: *kind, numel: *numel };
        self.push(Obj::Storage(storage));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::objects::tests::{sample_entries, torch_like_pickle};
    use super::*;

    fn err(data: &[u8]) -> String {
        unpickle(data).unwrap_err()
    }

    #[test]
    fn scalars_lists_memo_and_later_protocol_opcodes() {
        // PROTO 4, FRAME, (MARK LONG1(-5) BININT(-7) BININT2(300) LONG1(0) NONE NEWTRUE l),
        // MEMOIZE, BINGET 0 → TUPLE2, SHORT_BINUNICODE 'é', BINUNICODE8 'ab', APPENDS
        let mut p = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00(\x8a\x01\xfbJ\xf9\xff\xff\xffM\x2c\x01\x8a\x00N\x88l\x94".to_vec();
        p.extend(b"h\x00\x86");
        p.extend(b"]r\x05\x00\x00\x00(\x8c\x02\xc3\xa9\x8d\x02\x00\x00\x00\x00\x00\x00\x00abG\x3f\xf0\x00\x00\x00\x00\x00\x00ej\x05\x00\x00\x00a\x86.");
        let u = unpickle(&p).unwrap();
        let Obj::Tuple(outer) = &u.objs[u.root] else { panic!("root {:?}", u.objs[u.root]) };
        let Obj::Tuple(pair) = &u.objs[outer[0]] else { panic!() };
        assert_eq!(pair[0], pair[1], "BINGET returns the memoised object itself");
        let Obj::List(items) = &u.objs[pair[0]] else { panic!() };
        let ints: Vec<Option<i64>> = items.iter().map(|&i| if let Obj::Int(v) = u.objs[i] { Some(v) } else { None }).collect();
        assert_eq!(ints, [Some(-5), Some(-7), Some(300), Some(0), None, None]);
        let Obj::List(texts) = &u.objs[outer[1]] else { panic!() };
        assert_eq!(texts.len(), 4, "three appended by APPENDS, the list itself by APPEND");
        assert!(matches!(&u.objs[texts[0]], Obj::Str(s) if s == "é"));
        assert!(matches!(&u.objs[texts[1]], Obj::Str(s) if s == "ab"));
        assert_eq!(texts[3], outer[1]);
    }

    #[test]
    fn dict_opcode_and_duplicate_keys() {
        // (X'a' K1 X'a' K2 d) → {"a": 2}
        let u = unpickle(b"\x80\x02(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00aK\x02d.").unwrap();
        let Obj::Dict(d) = &u.objs[u.root] else { panic!() };
        assert_eq!(d.items.len(), 1);
        assert!(matches!(u.objs[d.items[0].1], Obj::Int(2)));
    }

    #[test]
    fn forbidden_globals_are_named_and_never_run() {
        let e = err(b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00lsR.");
        assert!(e.contains("unsupported global 'posix.system'") && e.contains("GLOBAL") && e.contains("at byte 2"), "{e}");
        let e = err(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.");
        assert!(e.contains("'builtins.eval'") && e.contains("STACK_GLOBAL"), "{e}");
        let e = err(b"\x80\x02ctorch\nFloatStorage\n)R.");
        assert!(e.contains("persistent id"), "{e}");
    }

    #[test]
    fn malformed_input_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x80\x02S'x'\n.", "STRING = 0x53 at byte 2"),
            (b"\x80\x02}", "without a STOP"),
            (b"\x80\x02X\xff\x00\x00\x00ab.", "truncated"),
            (b"\x80\x02h\x07.", "memo entry 7"),
            (b"\x80\x09N.", "protocol 9"),
            (b"\x80\x02NN.", "2 object(s)"),
            (b"\x80\x02s.", "underflow"),
            (b"\x80\x02(N.", "1 open MARK"),
            (b"\x80\x02t.", "no MARK"),
            (b"\x80\x02]X\x01\x00\x00\x00aK\x02s.", "SETITEM(S) on a list"),
            (b"\x80\x02}K\x01K\x02s.", "dict key"),
            (b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00.", "64 bits"),
            (b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "UTF-8"),
            (b"\x80\x02N)R.", "not callable"),
            (b"\x80\x02N}b.", "BUILD of a None"),
            (b"\x80\x02(X\x07\x00\x00\x00storageK\x00tQ.", "persistent id"),
            (b"\x80\x02ccollections\nOrderedDict\nK\x01\x85R.", "OrderedDict called with arguments"),
            (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)R.", "6 or 7 arguments"),
        ];
        for (data, want) in cases {
            let e = err(data);
            assert!(e.contains(want), "{data:?}: expected '{want}' in: {e}");
        }
    }

    /// Fuzz-ish: random bytes, every truncated prefix and single-byte corruptions of a real
    /// torch-layout pickle must give an error or a value, never a panic.
    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = (next() % 200) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            assert!(unpickle(&data).and_then(|u| u.state_dict()).is_err());
        }
        let real = torch_like_pickle(&sample_entries(), true);
        assert!(unpickle(&real).and_then(|u| u.state_dict()).is_ok());
        for cut in 0..real.len() {
            assert!(unpickle(&real[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
        for _ in 0..3000 {
            let mut data = real.clone();
            let at = (next() as usize) % data.len();
            data[at] = next() as u8;
            let _ = unpickle(&data).and_then(|u| u.state_dict().map(|sd| sd.iter().filter(|(_, s)| s.check_fits().is_ok()).count()));
        }
    }
}
