// Implementation of the SamuraiRoto C++ shim. Uses only the device-generic allocator interface
// of c10 (no CUDA headers), so it compiles against CPU and CUDA builds of libtorch alike.
#include "shim.h"
#include "samurai-roto-engine/src/ffi/mod.rs.h"

#include <ATen/Context.h>
#include <ATen/ATen.h>
#include <ATen/Version.h>
#include <torch/headeronly/version.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <stdexcept>

namespace samurai_roto {

bool cuda_available() noexcept {
  try {
    return at::hasCUDA() && at::getNumGPUs() > 0;
  } catch (...) {
    return false;
  }
}

int64_t cuda_device_count() noexcept {
  try {
    return at::hasCUDA() ? static_cast<int64_t>(at::getNumGPUs()) : 0;
  } catch (...) {
    return 0;
  }
}

static c10::DeviceAllocator* cuda_allocator(int8_t device) {
  if (!cuda_available()) {
    throw std::runtime_error("CUDA is not available in this libtorch build or on this machine");
  }
  if (device < 0 || device >= cuda_device_count()) {
    throw std::runtime_error("CUDA device index out of range");
  }
  return c10::getDeviceAllocator(c10::DeviceType::CUDA);
}

DeviceMemoryStats cuda_memory_stats(int8_t device) {
  auto stats = cuda_allocator(device)->getDeviceStats(device);
  const auto all = static_cast<size_t>(c10::CachingDeviceAllocator::StatType::AGGREGATE);
  DeviceMemoryStats out;
  out.allocated_bytes = stats.allocated_bytes[all].current;
  out.peak_allocated_bytes = stats.allocated_bytes[all].peak;
  out.reserved_bytes = stats.reserved_bytes[all].current;
  out.peak_reserved_bytes = stats.reserved_bytes[all].peak;
  out.num_ooms = stats.num_ooms;
  // The driver's view (cudaMemGetInfo behind the allocator interface): what other
  // processes hold on the device counts too, which is what batch sizing must respect.
  // -1 where the allocator does not implement it.
  out.free_bytes = -1;
  out.total_bytes = -1;
  try {
    const auto [free_bytes, total_bytes] = cuda_allocator(device)->getMemoryInfo(device);
    out.free_bytes = static_cast<int64_t>(free_bytes);
    out.total_bytes = static_cast<int64_t>(total_bytes);
  } catch (const std::exception&) {
  }
  return out;
}

void cuda_empty_cache() {
  cuda_allocator(0)->emptyCache();
}

void cuda_reset_peak_stats(int8_t device) {
  cuda_allocator(device)->resetPeakStats(device);
}

rust::String libtorch_config() {
  return rust::String(at::show_config());
}

rust::String libtorch_header_version() noexcept {
  return rust::String(TORCH_VERSION);
}

}  // namespace samurai_roto

// fp32 CPU linear through oneDNN (`mkldnn::_linear_pointwise`, the kernel torch.compile uses)
// instead of MKL's sgemm: on 2 cores oneDNN scales better. Same fp32 arithmetic (no reduced
// precision); only the summation order of the products differs. Falls back to at::linear
// when the op is missing or refuses the inputs. Takes and returns tch's `at::Tensor*`.
// `post` is a oneDNN post-op fused into the product: "none", "relu" or "gelu" (exact, erf).
extern "C" at::Tensor* samurai_roto_onednn_linear(const at::Tensor* x, const at::Tensor* w, const at::Tensor* b, const char* post) {
  const std::string attr(post);
  std::optional<at::Tensor> bias;
  if (b != nullptr) bias = *b;
  static const std::optional<c10::OperatorHandle> op =
      c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
  if (op.has_value()) {
    try {
      torch::jit::Stack stack;
      stack.reserve(6);
      stack.emplace_back(*x);
      stack.emplace_back(*w);
      stack.emplace_back(bias);
      stack.emplace_back(attr);
      stack.emplace_back(c10::List<std::optional<c10::Scalar>>());
      if (attr == "gelu") {
        stack.emplace_back(std::string("none"));
      } else {
        stack.emplace_back(c10::IValue());
      }
      op->callBoxed(&stack);
      return new at::Tensor(std::move(stack.back()).toTensor());
    } catch (...) {
    }
  }
  at::Tensor y = at::linear(*x, *w, bias);
  if (attr == "relu") y = at::relu(y);
  if (attr == "gelu") y = at::gelu(y);
  return new at::Tensor(std::move(y));
}
