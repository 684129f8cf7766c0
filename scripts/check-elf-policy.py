#!/usr/bin/env python3
"""Checks that every ELF file of a SamuraiRoto release runs on the studio's Linux.

    .venv/bin/python scripts/check-elf-policy.py [--policy manylinux_2_28] PATH...

PATH: a release archive (.tar.gz), or an unpacked archive or bundle folder, or single files.
For each ELF file (found by its magic number, whatever its name) it lists the highest
version it needs of each symbol-version family (GLIBC, GLIBCXX, CXXABI, GCC, ...) and fails
when one is not allowed by the policy, or when a library it needs is neither shipped in the
same tree nor one the policy lets a binary take from the system.

The policy is auditwheel's (pip package `auditwheel`, pinned by scripts/setup.sh): its
manylinux policy file lists, per platform tag, the symbol versions and system libraries a
binary may use. manylinux_2_28 is AlmaLinux/RHEL 8: GLIBC <= 2.28, GLIBCXX <= 3.4.24,
CXXABI <= 1.3.11, GCC <= 7.0.0. Shipped libraries are checked the same way, and a version
needed from a shipped library must be one that library defines. Should a tree ship its own
libstdc++.so.6, the GLIBCXX/CXXABI versions that copy defines are allowed instead (the file
itself is still held to the policy's GLIBC).

Exit status: 0 all files pass, 1 a file fails, 2 usage or input error.
"""
from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import re
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

FAMILIES = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")
ELF_MAGIC = b"\x7fELF"
# The dynamic loader is every dynamic ELF file's interpreter, not a library a policy lists
# (auditwheel leaves it out of a wheel's dependency tree the same way).
LOADER = {"x86_64": "ld-linux-x86-64.so.2"}


def load_policy(name: str, arch: str) -> dict:
    policy_file = importlib.resources.files("auditwheel.policy") / "manylinux-policy.json"
    for policy in json.loads(policy_file.read_text()):
        if policy["name"] == name or name in policy.get("aliases", []):
            return {
                "name": policy["name"],
                "versions": {k: set(v) for k, v in policy["symbol_versions"][arch].items()},
                "libs": set(policy["lib_whitelist"]),
            }
    raise SystemExit(f"check-elf-policy: auditwheel has no policy named {name}")


def version_key(version: str) -> tuple:
    """'GLIBC_2.28' -> ('GLIBC', (2, 28)); names without a number sort first."""
    family, _, number = version.partition("_")
    parts = tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.]", number)) if number else ()
    return family, parts


@dataclass
class Elf:
    path: Path
    rel: str
    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)
    defines: set[str] = field(default_factory=set)
    # needed library file name -> version names needed from it
    version_needs: dict[str, set[str]] = field(default_factory=dict)


def read_elf(path: Path, rel: str) -> Elf:
    out = Elf(path=path, rel=rel)
    with path.open("rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        out.needed.append(tag.needed)
                    elif tag.entry.d_tag == "DT_SONAME":
                        out.soname = tag.soname
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        out.runpath += tag.runpath.split(":")
                    elif tag.entry.d_tag == "DT_RPATH":
                        out.runpath += tag.rpath.split(":")
            elif isinstance(section, GNUVerNeedSection):
                for verneed, auxes in section.iter_versions():
                    names = out.version_needs.setdefault(verneed.name, set())
                    names.update(aux.name for aux in auxes)
            elif isinstance(section, GNUVerDefSection):
                for verdef, auxes in section.iter_versions():
                    if not verdef.entry.vd_flags & 1:  # VER_FLG_BASE names the file itself
                        out.defines.update(aux.name for aux in auxes)
    return out


def collect(paths: list[Path], scratch: Path) -> tuple[Path, list[Elf]]:
    files: list[tuple[Path, str]] = []
    root = None
    for p in paths:
        if p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar")):
            dest = scratch / p.name
            dest.mkdir()
            with tarfile.open(p) as tar:
                tar.extractall(dest, filter="tar")
            p = dest
        if p.is_dir():
            root = root or p
            for dirpath, _, names in os.walk(p):
                for n in sorted(names):
                    f = Path(dirpath) / n
                    files.append((f, str(f.relative_to(p))))
        elif p.is_file():
            root = root or p.parent
            files.append((p, p.name))
        else:
            raise SystemExit(f"check-elf-policy: {p} does not exist")
    elves = []
    for f, rel in sorted(files, key=lambda x: x[1]):
        if f.is_symlink() or not f.is_file():
            continue
        with f.open("rb") as fh:
            if fh.read(4) != ELF_MAGIC:
                continue
        elves.append(read_elf(f, rel))
    return root, elves


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--policy", default="manylinux_2_28", help="auditwheel policy name")
    ap.add_argument("--arch", default="x86_64")
    args = ap.parse_args()
    policy = load_policy(args.policy, args.arch)

    with tempfile.TemporaryDirectory() as scratch:
        _, elves = collect(args.paths, Path(scratch))
        if not elves:
            print("check-elf-policy: no ELF file found", file=sys.stderr)
            return 2
        # Shipped libraries by file name and by soname (the name a NEEDED entry uses).
        shipped: dict[str, Elf] = {}
        for e in elves:
            shipped.setdefault(Path(e.rel).name, e)
            if e.soname:
                shipped.setdefault(e.soname, e)
        own_cxx = shipped.get("libstdc++.so.6")
        failures = 0
        rows = []
        for e in elves:
            problems = []
            highest: dict[str, str] = {}
            origin = e.path.parent
            for lib in e.needed:
                if lib in shipped:
                    # shipped: it must be found where the dynamic loader will look (RUNPATH)
                    dirs = [Path(d.replace("$ORIGIN", str(origin)).replace("${ORIGIN}", str(origin)))
                            for d in e.runpath if "$ORIGIN" in d or "${ORIGIN}" in d]
                    if not any((d / lib).exists() for d in dirs) and not (origin / lib).exists():
                        problems.append(f"needs {lib}: shipped, but not on its $ORIGIN runpath {e.runpath}")
                elif lib not in policy["libs"] and lib != LOADER.get(args.arch):
                    problems.append(f"needs {lib}: not shipped, not a {policy['name']} system library")
            for lib, names in sorted(e.version_needs.items()):
                provider = shipped.get(lib)
                for name in sorted(names):
                    fam, _, number = name.partition("_")
                    if provider is not None:
                        # a shipped library (libstdc++.so.6 too, should a tree carry one)
                        if name not in provider.defines:
                            problems.append(f"needs {name} from shipped {lib}, which does not define it")
                    elif fam in policy["versions"]:
                        if number not in policy["versions"][fam]:
                            problems.append(f"needs {name} (from {lib}) above {policy['name']}")
                    else:
                        problems.append(f"needs {name} from system library {lib}: family {fam} not in the policy")
                    if fam in FAMILIES and (
                        fam not in highest or version_key(name) > version_key(highest[fam])
                    ):
                        highest[fam] = name
            failures += bool(problems)
            rows.append((e.rel, [highest.get(f, "-").partition("_")[2] or "-" for f in FAMILIES], problems))

        width = max(len(r[0]) for r in rows)
        print(f"{'ELF file':<{width}}  " + "  ".join(f"{f:>8}" for f in FAMILIES) + "  policy")
        for rel, highs, problems in rows:
            print(f"{rel:<{width}}  " + "  ".join(f"{h:>8}" for h in highs) + ("  FAIL" if problems else "  ok"))
            for p in problems:
                print(f"    {p}")
        print(
            f"{len(rows)} ELF files checked against auditwheel's {policy['name']} policy"
            + (f" (GLIBCXX/CXXABI of the shipped libstdc++.so.6)" if own_cxx else "")
            + f": {len(rows) - failures} ok, {failures} failing"
        )
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
