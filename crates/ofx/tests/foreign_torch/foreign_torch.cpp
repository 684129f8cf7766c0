// Test shim for the "foreign libtorch" fixture (scripts/foreign-torch.sh).
//
// Compiled against PyPI torch 2.1.2 (the libtorch Nuke 15.1 ships) and
// dlopened by tests/foreign_torch/mod.rs after that torch's libc10.so and
// libtorch_cpu.so, so a test process holds a second, foreign libtorch the way
// Nuke's process does. The only entry point is a C function: no C++ exception
// or type crosses the boundary.

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <cstdio>
#include <exception>
#include <string>

namespace {

// Copies `s` into `out` (at most len - 1 bytes, always NUL-terminated).
void write_out(char* out, size_t len, const std::string& s) {
  if (out == nullptr || len == 0) return;
  size_t n = s.size() < len - 1 ? s.size() : len - 1;
  s.copy(out, n);
  out[n] = '\0';
}

// The file the running c10 code comes from (proves which libc10.so answered).
std::string c10_origin() {
  Dl_info info{};
  void* sym = reinterpret_cast<void*>(&c10::GetCPUAllocator);
  if (dladdr(sym, &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
  return "?";
}

}  // namespace

extern "C" {

// Runs a real CPU tensor computation through the libtorch this shim was
// linked against and writes "torch <version> ... value=<v> c10=<path>" into
// `out`. Returns 0 when the value is the expected one, 1 on a wrong value,
// 2 on a caught exception (message in `out`).
//
// a = [[1,2,3],[4,5,6]], a @ a^T = [[14,32],[32,77]], sum = 155;
// plus linspace(0, 1, 5).pow(2).sum() = 1.875 (exact in binary floating point).
__attribute__((visibility("default"))) int foreign_torch_check(char* out, size_t len) {
  try {
    at::Tensor a = at::arange(1, 7, at::TensorOptions().dtype(at::kFloat)).reshape({2, 3});
    double mm = a.matmul(a.t()).sum().item<double>();
    double ls = at::linspace(0.0, 1.0, 5, at::kDouble).pow(2).sum().item<double>();
    char buf[512];
    std::snprintf(buf, sizeof buf, "torch %s (%d.%d.%d) matmul_sum=%g linspace_sq_sum=%g c10=%s",
                  TORCH_VERSION, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH, mm,
                  ls, c10_origin().c_str());
    bool ok = mm == 155.0 && ls == 1.875;
    write_out(out, len, ok ? std::string(buf) : std::string("wrong result: ") + buf);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    write_out(out, len, std::string("exception: ") + e.what());
    return 2;
  } catch (...) {
    write_out(out, len, "unknown exception");
    return 2;
  }
}

}  // extern "C"
