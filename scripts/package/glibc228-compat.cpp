// Linked into every release binary by scripts/package/zig-linker.sh (and nowhere else).
//
// The release binaries are linked against glibc 2.28's symbol stubs (zig) and the target
// system's libstdc++.so.6, but our C++ (cpp/shim.cpp, torch-sys's libtch) is compiled by
// the build machine's g++ 12 against its own headers. Those headers reference a few things
// that RHEL 8 (glibc 2.28, libstdc++ GLIBCXX_3.4.25) does not have; each is defined here,
// from old symbols only, so that the link binds our references to these copies instead of
// to the newer versions (what RHEL's own gcc-toolset does with its libstdc++_nonshared.a).
// scripts/check-elf-policy.py lists what a binary still needs; add here only what it names,
// each with the reason it is equivalent.
#include <new>
#include <sstream>

// (An executable exports none of these unless a library it links references them, and none
// of the libraries a release binary links does; the plugin exports only its OpenFX entry
// points.)

// glibc 2.32's flag, read by libstdc++'s inline reference counting (ext/atomicity.h,
// shared_ptr, std::locale) to skip atomic instructions while the process has one thread.
// Fixed at 0 ("may be multi-threaded"): the inlined code always takes the atomic path,
// which is correct in every process, only not the single-thread shortcut. Nothing writes it.
extern "C" {
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
}

namespace std {
// GLIBCXX_3.4.29 (gcc 11): std::allocator<T>::allocate calls it when n * sizeof(T)
// overflows. It throws std::bad_array_new_length, an exception type libstdc++ has exported
// since GLIBCXX_3.4.19 / CXXABI_1.3.8, so the behaviour is the library's own.
void __throw_bad_array_new_length() {
  throw std::bad_array_new_length();
}
}  // namespace std

// GLIBCXX_3.4.26 (gcc 9): basic_ostringstream's default constructor became a constructor
// of its own (before, the openmode constructor's default argument), exported by the library
// from 3.4.26. torch-sys's libtch calls it. This explicit instantiation emits it here from
// the header's definition, which only calls constructors the library has exported since
// GLIBCXX_3.4.21 (basic_ostream, basic_stringbuf(openmode), basic_ios::init); the object
// layout is the library's, unchanged since then.
template std::basic_ostringstream<char>::basic_ostringstream();
